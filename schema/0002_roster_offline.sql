-- 0002: rosters with XEP-0237 versions (RFC 6121 §2), pending inbound subscription
-- requests (RFC 6121 §3.1.3) and offline messages (XEP-0160).
--
-- Everything belongs to a local account and goes with it (on delete cascade).
-- Contacts are bare JIDs, normalised by the caller, compared bytewise ("C").

-- One row per account whose roster has ever changed: its current roster version.
-- Every change takes this row's lock (the upsert that bumps it), which serialises
-- the changes of one roster. No row: version 0, an empty roster.
create table roster_versions (
  domain text collate "C" not null,
  username text collate "C" not null,
  version bigint not null default 0,
  constraint roster_versions_pkey primary key (domain, username),
  constraint roster_versions_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint roster_versions_version_check check (version >= 0)
);

-- `version` is the roster version of the item's latest change. A removed item stays
-- as a tombstone (removed, its other columns reset) carrying the version of the
-- removal, so the changes after version v are exactly the rows with version > v.
-- Putting the contact again revives the row.
create table roster_items (
  domain text collate "C" not null,
  username text collate "C" not null,
  contact text collate "C" not null,
  name text,
  groups text[] not null default '{}',
  subscription text not null default 'none',
  pending_out boolean not null default false,
  approved boolean not null default false,
  version bigint not null,
  removed boolean not null default false,
  constraint roster_items_pkey primary key (domain, username, contact),
  constraint roster_items_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint roster_items_contact_check check (contact <> ''),
  constraint roster_items_subscription_check
    check (subscription in ('none', 'to', 'from', 'both')),
  constraint roster_items_version_check check (version > 0)
);

-- XEP-0237: the items changed after a version.
create index roster_items_version_idx on roster_items (domain, username, version);

-- An inbound subscribe request awaiting the user's answer, kept as the stanza to
-- deliver again at the user's next login.
create table subscription_requests (
  domain text collate "C" not null,
  username text collate "C" not null,
  contact text collate "C" not null,
  stanza text not null,
  created_at timestamptz not null default now(),
  constraint subscription_requests_pkey primary key (domain, username, contact),
  constraint subscription_requests_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint subscription_requests_contact_check check (contact <> '')
);

-- Messages for an account without an available resource, delivered in id order.
create table offline_messages (
  id bigint generated always as identity,
  domain text collate "C" not null,
  username text collate "C" not null,
  stanza text not null,
  stored_at timestamptz not null default now(),
  constraint offline_messages_pkey primary key (id),
  constraint offline_messages_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade
);

create index offline_messages_account_idx on offline_messages (domain, username, id);
