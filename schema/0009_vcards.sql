-- 0009: XEP-0054 vcard-temp: each account's vCard as the XML it was set as. It goes with the
-- account (on delete cascade).

create table vcards (
  domain text collate "C" not null,
  username text collate "C" not null,
  xml text not null,
  updated_at timestamptz not null default now(),
  constraint vcards_pkey primary key (domain, username),
  constraint vcards_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade
);
