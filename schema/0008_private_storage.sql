-- 0008: XEP-0049 Private XML Storage: per account and namespace, the XML a client stored (the
-- elements of that namespace, as text). It goes with the account (on delete cascade).

create table private_storage (
  domain text collate "C" not null,
  username text collate "C" not null,
  namespace text collate "C" not null,
  xml text not null,
  updated_at timestamptz not null default now(),
  constraint private_storage_pkey primary key (domain, username, namespace),
  constraint private_storage_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade
);
