-- 0016: SCRAM credentials join the change feed of 0015, so that a server on PostgreSQL can
-- keep them in memory as one on PGlite does: every SCRAM sign-in reads one, and a password
-- changed or an account disabled by another writer (another node, the command line, psql)
-- must reach a process's memory just after its commit.
--   scram_credentials   updates and deletes (a password changed replaces the rows; they go
--                       with their account by cascade). Inserts need no notice: a process
--                       keeps only credentials it found, so a new row replaces nothing it
--                       holds, and a bulk import of accounts notifies nobody.
--   accounts            an update (disabled_at: a disabled account cannot sign in)
-- Both send [schema, 'credentials', domain, username]; a TRUNCATE of scram_credentials
-- (or of accounts, which cascades) sends [schema, 'truncate', table].

create trigger scram_credentials_changed after update on scram_credentials
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('credentials');
create trigger scram_credentials_deleted after delete on scram_credentials
  referencing old table as changed_rows
  for each statement execute function hearth_notify_statement('credentials');
create trigger scram_credentials_truncated after truncate on scram_credentials
  for each statement execute function hearth_notify_truncated();

create trigger accounts_disabled_changed after update of disabled_at on accounts
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off'
    and old.disabled_at is distinct from new.disabled_at)
  execute function hearth_notify_change('credentials');
