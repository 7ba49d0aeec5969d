// The storage layer's public surface: open/migrate the database, and the
// repositories (the only code that writes SQL).
import { createAccountStore, type AccountStore } from './accounts.js';
import type { Database } from './database.js';

export interface Stores {
  accounts: AccountStore;
}

export function createStores(database: Database): Stores {
  return {
    accounts: createAccountStore(database.db),
  };
}

export { openDatabase, migrateToLatest, type Database, type DatabaseOptions, type StorageLogger } from './database.js';
export type { AccountStore, AccountRecord, NewAccount, AccountListOptions } from './accounts.js';
export type { Tables } from './tables.js';
