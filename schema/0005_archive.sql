-- 0005: message archives (XEP-0313 Message Archive Management) and their preferences
-- (XEP-0441). Everything belongs to a local account and goes with it (on delete cascade).
--
-- `id` is the archive id (XEP-0359 stanza-id): a hybrid clock the server generates in
-- memory, milliseconds since 1970 × 4096 + a counter, so it orders messages in time, is
-- unique per archive and says when the message was archived (id >> 12 = milliseconds).
-- Time filters (start, end) and retention are therefore ranges of id, on the primary key.

create table archive_messages (
  domain text collate "C" not null,
  username text collate "C" not null,
  id bigint not null,
  -- The other party: its bare JID (normalised) and resource ('' for none).
  with_jid text collate "C" not null,
  with_resource text collate "C" not null default '',
  -- true: the account sent it; false: the account received it.
  outgoing boolean not null,
  -- chat, normal or groupchat.
  type text not null,
  -- The message as routed, serialised.
  stanza text not null,
  -- Its <body/>, for full-text search (XEP-0431); null when it has none.
  body text,
  constraint archive_messages_pkey primary key (domain, username, id),
  constraint archive_messages_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint archive_messages_type_check check (type in ('chat', 'normal', 'groupchat')),
  constraint archive_messages_id_check check (id > 0)
);

-- "The last 50 messages with one contact": an index range scan, backwards.
create index archive_messages_with_idx on archive_messages (domain, username, with_jid, id);

-- XEP-0431 full-text search: 'simple' (no stemming, no stop words) suits every language.
create index archive_messages_body_idx on archive_messages using gin (to_tsvector('simple', body));

-- XEP-0441 preferences; no row means the defaults (default='always', no lists).
create table archive_prefs (
  domain text collate "C" not null,
  username text collate "C" not null,
  default_mode text not null,
  always_jids text[] not null default '{}',
  never_jids text[] not null default '{}',
  constraint archive_prefs_pkey primary key (domain, username),
  constraint archive_prefs_account_fkey foreign key (domain, username)
    references accounts (domain, username) on delete cascade,
  constraint archive_prefs_default_check check (default_mode in ('always', 'never', 'roster'))
);
