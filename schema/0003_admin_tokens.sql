-- 0003: bearer tokens of the admin HTTP API (`hearth token create|list|revoke`).
--
-- A token is shown once, when it is created; only its SHA-256 digest is kept. Tokens are
-- 256 random bits, so a fast hash is enough: nobody can guess their way back to one.
-- Requests look a token up by its digest.

create table admin_tokens (
  name text collate "C" not null,
  scope text not null,
  token_sha256 bytea not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  constraint admin_tokens_pkey primary key (name),
  constraint admin_tokens_digest_key unique (token_sha256),
  constraint admin_tokens_name_check check (name <> ''),
  constraint admin_tokens_scope_check check (scope in ('admin', 'metrics')),
  constraint admin_tokens_digest_check check (octet_length(token_sha256) = 32)
);
