-- 0011: XEP-0060 publish-subscribe nodes, their items and affiliations. A PEP service
-- (XEP-0163) is an account's bare JID: its nodes name the account as owner and go with it
-- (on delete cascade), and their items and affiliations with them.

create table pubsub_nodes (
  id bigint generated always as identity primary key,
  -- The service's JID: for PEP, the owner's bare JID.
  service text collate "C" not null,
  node text collate "C" not null,
  owner_domain text collate "C",
  owner_username text collate "C",
  -- The node configuration (pubsub#node_config fields) as JSON text.
  config text not null,
  created_at timestamptz not null default now(),
  constraint pubsub_nodes_service_node_key unique (service, node),
  constraint pubsub_nodes_owner_fkey foreign key (owner_domain, owner_username)
    references accounts (domain, username) on delete cascade
);
create index pubsub_nodes_owner on pubsub_nodes (owner_domain, owner_username);

-- Items in publication order: republishing an item id moves it to the end (a new seq).
create sequence pubsub_item_seq;
create table pubsub_items (
  node_id bigint not null references pubsub_nodes (id) on delete cascade,
  item_id text collate "C" not null,
  publisher text collate "C" not null,
  -- The payload element as the XML text it arrived as.
  payload text not null,
  bytes integer not null,
  seq bigint not null default nextval('pubsub_item_seq'),
  published_at timestamptz not null default now(),
  constraint pubsub_items_pkey primary key (node_id, item_id)
);
create index pubsub_items_node_seq on pubsub_items (node_id, seq);

-- Affiliations other than the owner's (XEP-0060 §4.1): member, publisher, outcast.
create table pubsub_affiliations (
  node_id bigint not null references pubsub_nodes (id) on delete cascade,
  jid text collate "C" not null,
  affiliation text not null,
  constraint pubsub_affiliations_pkey primary key (node_id, jid)
);
create index pubsub_affiliations_jid on pubsub_affiliations (jid);
