-- 0010: XEP-0115 entity capabilities Hearth verified: the features behind a (hash, ver) pair.
-- A verified pair means the same for every entity that claims it, so the table is shared
-- and never changes a row.

create table entity_caps (
  hash text collate "C" not null,
  ver text collate "C" not null,
  features text[] not null,
  verified_at timestamptz not null default now(),
  constraint entity_caps_pkey primary key (hash, ver)
);
