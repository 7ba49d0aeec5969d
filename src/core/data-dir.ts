// The data directory: PGlite database, generated certificates, the server secret and the
// control socket. Access to it is the authority (contract.md), so it is private to the owner.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export async function ensureDataDir(dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
}

/**
 * A random secret created once and kept across restarts (dialback keys, fake SCRAM salts
 * for unknown users: XEP-0185 wants it stable).
 */
export async function loadServerSecret(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, 'secret');
  try {
    const text = (await readFile(file, 'utf8')).trim();
    const secret = Buffer.from(text, 'base64');
    if (secret.length >= 32) return secret;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32);
  await writeFile(file, secret.toString('base64') + '\n', { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  // Another process may have won the race: use whatever is on disk now.
  return Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
}

export function controlSocketPath(dataDir: string): string {
  return path.join(dataDir, 'hearth.sock');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite allows one process per data directory: whoever opens the embedded database holds
 * this lock file. A stale lock (its process gone) is taken over.
 */
export class DataDirLock {
  private constructor(private readonly file: string) {}

  static acquire(dataDir: string): DataDirLock {
    const file = path.join(dataDir, 'db.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        writeSync(fd, `${process.pid}\n`);
        closeSync(fd);
        return new DataDirLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
        if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && processAlive(holder)) {
          throw new Error(`the database in ${dataDir} is in use by process ${holder}`);
        }
        unlinkSync(file);
      }
    }
    throw new Error(`cannot lock ${file}`);
  }

  release(): void {
    try {
      unlinkSync(this.file);
    } catch {
      // already gone
    }
  }
}
