// Row types for every table in schema/*.sql. One interface per table, plus
// Selectable/Insertable/Updateable aliases; `Tables` is the kysely database
// type. Keep in step with the migrations: a new migration that adds or alters
// a table updates the matching interface here.
import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';
import type { ScramMechanismName } from '../sasl/credentials.js';

/**
 * bytea: pg returns Buffer, PGlite returns Uint8Array. Repositories normalise
 * to Buffer with `toBuffer` (see ./bytes.ts) before handing values out.
 */
export type Bytea = ColumnType<Uint8Array, Uint8Array, Uint8Array>;

/** timestamptz with a database default: optional on insert, Date on select. */
export type CreatedAt = ColumnType<Date, Date | undefined, never>;

export interface AccountsTable {
  domain: string;
  username: string;
  created_at: CreatedAt;
}
export type AccountRow = Selectable<AccountsTable>;
export type NewAccountRow = Insertable<AccountsTable>;

export interface ScramCredentialsTable {
  domain: string;
  username: string;
  mechanism: ScramMechanismName;
  salt: Bytea;
  iterations: number;
  stored_key: Bytea;
  server_key: Bytea;
}
export type ScramCredentialRow = Selectable<ScramCredentialsTable>;
export type NewScramCredentialRow = Insertable<ScramCredentialsTable>;
export type ScramCredentialUpdate = Updateable<ScramCredentialsTable>;

export interface Tables {
  accounts: AccountsTable;
  scram_credentials: ScramCredentialsTable;
}
