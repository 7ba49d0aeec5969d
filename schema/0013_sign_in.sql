-- 0013: sign-in for today's clients (XEP-0388 SASL2, XEP-0484 FAST) and disabled accounts.
--
-- A disabled account keeps everything it owns but cannot log in. FAST tokens are kept per
-- client (the SASL2 user-agent id, stored only as a keyed hash) in two slots, 'current' and
-- 'new' (XEP-0484 §5.1: a rotated token replaces the current one only once it is used).
-- The HT mechanisms key an HMAC with the token itself, so the server must be able to
-- recover it: the token is stored encrypted (AES-256-GCM) under a key derived from the
-- server secret in the data directory, which is not in this database.

alter table accounts add column disabled_at timestamptz;

create table fast_tokens (
  domain text collate "C" not null,
  username text collate "C" not null,
  client_id bytea not null,
  slot text not null,
  mechanism text not null,
  sealed_token bytea not null,
  issued_at timestamptz not null default now(),
  expires_at timestamptz not null,
  constraint fast_tokens_pkey primary key (domain, username, client_id, slot),
  constraint fast_tokens_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint fast_tokens_slot_check check (slot in ('current', 'new'))
);

create index fast_tokens_expiry on fast_tokens (expires_at);
