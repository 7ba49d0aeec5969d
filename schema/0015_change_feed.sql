-- 0015: a feed of changed accounts, so that what a Hearth process remembers of the database
-- stays exact whoever writes it (another node of a cluster, the command line on another
-- machine, an operator's psql).
--
-- Each committed change to a table some process keeps a summary of in memory sends
-- NOTIFY hearth_changes with the JSON array [schema, kind, domain, username]; PostgreSQL
-- delivers it after the commit, once per distinct payload per transaction. A process that
-- listens forgets (or marks) that account; one whose listening connection drops stops
-- answering from memory until it listens again. Which changes matter:
--   fast_tokens              any insert, update or delete (the tokens a client may use)
--   archive                  inserts and deletes (the archive's oldest and newest ids)
--   offline                  inserts (the account has messages waiting)
--   subscription_requests    inserts (the account has requests waiting)
--   blocklist                inserts (the account blocks someone)
--   archive_prefs            inserts (the account set its archive preferences)
-- Deletes from the last four need no notice: a reader finds nothing and clears its mark.
-- A TRUNCATE of fast_tokens or archive_messages (or of accounts, which cascades) sends
-- [schema, 'truncate', table]: listeners forget everything.
--
-- Embedded PGlite has one writer, the process itself, and nobody to tell: it sets
-- hearth.change_feed to 'off' for its session, and the triggers do nothing.

create function hearth_notify_change() returns trigger language plpgsql as $$
declare
  changed record;
begin
  if tg_op = 'DELETE' then changed := old; else changed := new; end if;
  perform pg_notify('hearth_changes', json_build_array(tg_table_schema, tg_argv[0], changed.domain, changed.username)::text);
  return null;
end
$$;

-- Statements that touch many rows at once (an archive's group commit of hundreds of messages,
-- the retention, an account's removal): one call, one notice per account.
create function hearth_notify_statement() returns trigger language plpgsql as $$
begin
  if current_setting('hearth.change_feed', true) is distinct from 'off' then
    perform pg_notify('hearth_changes', json_build_array(tg_table_schema, tg_argv[0], accounts.domain, accounts.username)::text)
      from (select distinct domain, username from changed_rows) as accounts;
  end if;
  return null;
end
$$;

create function hearth_notify_truncated() returns trigger language plpgsql as $$
begin
  if current_setting('hearth.change_feed', true) is distinct from 'off' then
    perform pg_notify('hearth_changes', json_build_array(tg_table_schema, 'truncate', tg_table_name)::text);
  end if;
  return null;
end
$$;

create trigger fast_tokens_changed after insert or update on fast_tokens
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('fast_tokens');
create trigger fast_tokens_deleted after delete on fast_tokens
  referencing old table as changed_rows
  for each statement execute function hearth_notify_statement('fast_tokens');
create trigger fast_tokens_truncated after truncate on fast_tokens
  for each statement execute function hearth_notify_truncated();

create trigger archive_messages_added after insert on archive_messages
  referencing new table as changed_rows
  for each statement execute function hearth_notify_statement('archive');
create trigger archive_messages_deleted after delete on archive_messages
  referencing old table as changed_rows
  for each statement execute function hearth_notify_statement('archive');
create trigger archive_messages_truncated after truncate on archive_messages
  for each statement execute function hearth_notify_truncated();

create trigger offline_messages_added after insert on offline_messages
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('offline');

create trigger subscription_requests_added after insert on subscription_requests
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('subscription_requests');

create trigger blocklist_items_added after insert on blocklist_items
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('blocklist');

create trigger archive_prefs_added after insert on archive_prefs
  for each row when (current_setting('hearth.change_feed', true) is distinct from 'off')
  execute function hearth_notify_change('archive_prefs');
