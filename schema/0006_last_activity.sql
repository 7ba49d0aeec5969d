-- 0006: XEP-0012 Last Activity: when each account's last available session ended, and the
-- status text of its last unavailable presence (answered to its presence subscribers).
--
-- One row per account that has ever logged out, replaced at each logout; it goes with the
-- account (on delete cascade).

create table last_activity (
  domain text collate "C" not null,
  username text collate "C" not null,
  logout_at timestamptz not null,
  status text,
  constraint last_activity_pkey primary key (domain, username),
  constraint last_activity_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade
);
