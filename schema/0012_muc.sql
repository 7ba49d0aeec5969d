-- 0012: group chat (XEP-0045 Multi-User Chat). A room is a row for as long as it exists:
-- a temporary room goes when its last occupant leaves, a persistent one when it is
-- destroyed. Its affiliations and its archive (XEP-0313 on the room's JID) go with it.

create table muc_rooms (
  -- The service's domain (conference.example.org) and the room's local part.
  domain text collate "C" not null,
  name text collate "C" not null,
  -- The room configuration (muc#roomconfig fields) as JSON text.
  config text not null,
  -- The subject, the nickname that set it ('' for the room itself), its XEP-0421 occupant
  -- id, and when.
  subject text not null default '',
  subject_nick text not null default '',
  subject_occupant_id text not null default '',
  subject_at timestamptz,
  created_at timestamptz not null default now(),
  constraint muc_rooms_pkey primary key (domain, name)
);

create table muc_affiliations (
  domain text collate "C" not null,
  name text collate "C" not null,
  -- A bare JID (normalised), or a domain for a whole server.
  jid text collate "C" not null,
  affiliation text not null,
  -- A nickname reserved for this JID (XEP-0045 §7.10), if any.
  nick text collate "C",
  reason text not null default '',
  constraint muc_affiliations_pkey primary key (domain, name, jid),
  constraint muc_affiliations_room_fkey foreign key (domain, name)
    references muc_rooms (domain, name) on delete cascade,
  constraint muc_affiliations_check check (affiliation in ('owner', 'admin', 'member', 'outcast'))
);
create unique index muc_affiliations_nick_key on muc_affiliations (domain, name, nick) where nick is not null;

-- The room archive: the columns of archive_messages (schema/0005), so one store serves both;
-- `username` is the room's local part, `with_jid` the room's JID and `with_resource` the
-- sender's nickname.
create table muc_archive_messages (
  domain text collate "C" not null,
  username text collate "C" not null,
  id bigint not null,
  with_jid text collate "C" not null,
  with_resource text collate "C" not null default '',
  outgoing boolean not null,
  type text not null,
  stanza text not null,
  body text,
  constraint muc_archive_messages_pkey primary key (domain, username, id),
  constraint muc_archive_messages_room_fkey foreign key (domain, username)
    references muc_rooms (domain, name) on delete cascade,
  constraint muc_archive_messages_type_check check (type in ('chat', 'normal', 'groupchat')),
  constraint muc_archive_messages_id_check check (id > 0)
);
create index muc_archive_messages_with_idx on muc_archive_messages (domain, username, with_jid, with_resource, id);
create index muc_archive_messages_body_idx on muc_archive_messages using gin (to_tsvector('simple', body));
