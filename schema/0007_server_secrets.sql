-- 0007: secrets every node of a cluster must share (scale-out issue): the server secret
-- that keys dialback (XEP-0185) and the fake SCRAM salts of unknown users. A single process
-- keeps its secret in the data directory; the first cluster node to start seeds this row
-- with its own, so turning clustering on keeps the secret it had.

create table server_secrets (
  name text collate "C" not null,
  value bytea not null,
  created_at timestamptz not null default now(),
  constraint server_secrets_pkey primary key (name)
);
