// Mocha root hooks for federation-tests (loaded through .mocharc.json "require"):
// - before everything: the test CA and its certificates (helpers/pki.ts), and the test
//   domains in /etc/hosts (idempotently; Prosody and Hearth's A/AAAA fallback read it);
// - after a failed test: the last lines of every server still running, and where the
//   run's folder (configs, data, full logs) is kept;
// - after everything: every process still running is stopped by its pid, temp folders go.
import type { Context, Suite } from 'mocha';
import { ensureHostsEntry } from '../test/helpers/hosts.js';
import { getPki, removePki } from './helpers/pki.js';
import { runningProcesses, stopAll } from './helpers/processes.js';
import { removeRunDir, runDir } from './helpers/workspace.js';

/** Test domains and their loopback addresses (127.0.0.150–179; the benchmark's 186/187). */
export const HOSTS: Record<string, string> = {
  'a.hearth.example': '127.0.0.151',
  'b.hearth.example': '127.0.0.152',
  'c.hearth.example': '127.0.0.153',
  'hosts.hearth.example': '127.0.0.154',
  'prosody.hearth.example': '127.0.0.160',
  'closed.hearth.example': '127.0.0.171',
  'silent.hearth.example': '127.0.0.172',
};

let failures = 0;
const pkiWasGiven = !!process.env.HEARTH_FEDERATION_PKI;

/** Whether a test or hook in the suite tree failed (hook failures skip afterEach). */
function anyFailed(suite: Suite): boolean {
  type Hooks = Record<'_beforeAll' | '_afterAll' | '_beforeEach' | '_afterEach', Array<{ state?: string }> | undefined>;
  const s = suite as unknown as Hooks;
  const hooks = [...(s._beforeAll ?? []), ...(s._afterAll ?? []), ...(s._beforeEach ?? []), ...(s._afterEach ?? [])];
  return hooks.some((h) => h.state === 'failed') || suite.tests.some((t) => t.state === 'failed') || suite.suites.some(anyFailed);
}

export const mochaHooks = {
  async beforeAll(this: Context): Promise<void> {
    this.timeout(60_000);
    await getPki();
    for (const [name, address] of Object.entries(HOSTS)) ensureHostsEntry(name, address);
  },
  afterEach(this: Context): void {
    if (this.currentTest?.state !== 'failed') return;
    failures++;
    for (const p of runningProcesses()) {
      process.stderr.write(`\n---- last lines of ${p.name} (pid ${p.pid}) ----\n${p.tail(25)}\n`);
    }
  },
  async afterAll(this: Context): Promise<void> {
    this.timeout(30_000);
    await stopAll();
    const keep = process.env.HEARTH_FEDERATION_KEEP === '1' || failures > 0 || (this.test?.parent ? anyFailed(this.test.parent) : false);
    if (keep) {
      process.stderr.write(`\nfederation-tests: configs, data and logs kept in ${runDir()}\n`);
    } else {
      removeRunDir();
      if (!pkiWasGiven && process.env.HEARTH_FEDERATION_PKI) removePki(process.env.HEARTH_FEDERATION_PKI);
    }
  },
};
