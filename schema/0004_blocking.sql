-- 0004: blocklists (XEP-0191 Blocking Command).
--
-- One row per address a local account blocked: a full JID, a bare JID, a domain/resource or
-- a domain (XEP-0191 §6, the XEP-0016 forms), local or remote, normalised by the caller
-- (RFC 7622) and compared bytewise ("C"). Remote addresses are as valid as local ones, so the
-- blocked address is not a foreign key; the list goes with its account (on delete cascade).

create table blocklist_items (
  domain text collate "C" not null,
  username text collate "C" not null,
  jid text collate "C" not null,
  created_at timestamptz not null default now(),
  constraint blocklist_items_pkey primary key (domain, username, jid),
  constraint blocklist_items_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint blocklist_items_jid_check check (jid <> '')
);
