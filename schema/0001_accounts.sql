-- 0001: local accounts and their SCRAM credentials (RFC 5802, RFC 7677).
--
-- Usernames and domains are stored exactly as given: the caller has already
-- applied the PRECIS profiles (RFC 7622 localpart / domainpart rules).
-- The "C" collation keeps comparisons and ordering bytewise, identical on
-- PostgreSQL and PGlite whatever the server locale.

create table accounts (
  domain text collate "C" not null,
  username text collate "C" not null,
  created_at timestamptz not null default now(),
  constraint accounts_pkey primary key (domain, username),
  constraint accounts_domain_check check (domain <> ''),
  constraint accounts_username_check check (username <> '')
);

create table scram_credentials (
  domain text collate "C" not null,
  username text collate "C" not null,
  mechanism text not null,
  salt bytea not null,
  iterations integer not null,
  stored_key bytea not null,
  server_key bytea not null,
  constraint scram_credentials_pkey primary key (domain, username, mechanism),
  constraint scram_credentials_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint scram_credentials_mechanism_check
    check (mechanism in ('SCRAM-SHA-1', 'SCRAM-SHA-256')),
  constraint scram_credentials_iterations_check check (iterations > 0)
);
