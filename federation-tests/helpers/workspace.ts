// One temporary folder per test run for data directories, configs and logs. Kept when
// HEARTH_FEDERATION_KEEP=1 (or when a test failed: the root hook keeps it and says where).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

let root: string | null = null;
let counter = 0;

export function runDir(): string {
  if (root === null) {
    const named = process.env.HEARTH_FEDERATION_RUN;
    if (named) {
      mkdirSync(named, { recursive: true });
      root = named;
    } else {
      root = mkdtempSync(path.join(tmpdir(), 'hearth-federation-'));
      process.env.HEARTH_FEDERATION_RUN = root;
    }
  }
  return root;
}

/** A fresh folder for one server instance (name-N). */
export function newDir(name: string): string {
  const dir = path.join(runDir(), `${name}-${++counter}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function removeRunDir(): void {
  if (root) rmSync(root, { recursive: true, force: true });
  root = null;
}
