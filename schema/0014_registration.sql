-- 0014: accounts people make themselves (XEP-0077 in-band registration), the invitations an
-- operator mints for them (XEP-0401, XEP-0445), administrators an invitation made, and the
-- names of deleted accounts, kept for a while so that nobody takes them over.

-- An invitation. The token itself is never stored, only its SHA-256 digest: tokens are
-- 128 random bits and more, so a fast hash is enough (as admin_tokens, 0003). An invitation
-- is used once: redeeming it deletes its row.
create table invites (
  id bigint generated always as identity,
  token_sha256 bytea not null,
  -- The served domain the new account is created on.
  domain text collate "C" not null,
  -- The one username the invitation may create (normalised), or null: the invitee chooses.
  username text collate "C",
  -- A roster invitation: the local account (on `domain`) the new user and it end up
  -- subscribed to each other. Such an invitation goes with that account.
  contact_username text collate "C",
  -- The new account becomes a server administrator (server_admins below).
  grants_admin boolean not null default false,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint invites_pkey primary key (id),
  constraint invites_digest_key unique (token_sha256),
  constraint invites_digest_check check (octet_length(token_sha256) = 32),
  constraint invites_username_check check (username <> ''),
  constraint invites_contact_fkey foreign key (domain, contact_username)
    references accounts (domain, username) on delete cascade
);

-- XEP-0401 §6.2: a username named by an invitation stays reserved until it expires.
create index invites_username_idx on invites (domain, username) where username is not null;
create index invites_expiry_idx on invites (expires_at);

-- Administrators granted in the database (an invitation minted with --admin), beside the
-- static `admins` of the configuration file. The grant goes with its account.
create table server_admins (
  domain text collate "C" not null,
  username text collate "C" not null,
  granted_at timestamptz not null default now(),
  constraint server_admins_pkey primary key (domain, username),
  constraint server_admins_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade
);

-- The name of a deleted account and when it was deleted: registration and invitations refuse
-- it for registration.reuseDelayDays, so that a newcomer does not inherit the subscriptions,
-- room affiliations and access lists others still hold for that address. Operators may still
-- create the account explicitly (hearth user add, the admin API).
create table account_tombstones (
  domain text collate "C" not null,
  username text collate "C" not null,
  deleted_at timestamptz not null default now(),
  constraint account_tombstones_pkey primary key (domain, username)
);

-- Written by the database, in the transaction that deletes the account, so that no path
-- (XEP-0077 cancellation, hearth user del on a stopped server, the admin API) can forget it.
create function record_account_tombstone() returns trigger language plpgsql as $$
begin
  insert into account_tombstones (domain, username, deleted_at)
  values (old.domain, old.username, now())
  on conflict (domain, username) do update set deleted_at = excluded.deleted_at;
  return old;
end;
$$;

create trigger accounts_tombstone after delete on accounts
  for each row execute function record_account_tombstone();
