// Mocha root hooks for cluster-tests (loaded through .mocharc.json "require"):
// - after a failed test: the last lines of every node's log, and where the run folder is;
// - after everything: every process the suite started and that still runs is ended by its
//   pid; the run folder (configs, data directories, logs) goes unless a test failed or
//   HEARTH_CLUSTER_KEEP=1.
import type { Context } from 'mocha';
import { allNodes, endAllProcesses, removeRunDir, runDir } from './helpers.js';

let failures = 0;

export const mochaHooks = {
  afterEach(this: Context): void {
    if (this.currentTest?.state !== 'failed') return;
    failures++;
    for (const node of allNodes) {
      process.stderr.write(`\n---- last lines of node ${node.name} (${node.logFile}) ----\n${node.tail(15)}\n`);
    }
  },
  async afterAll(this: Context): Promise<void> {
    this.timeout(30_000);
    await endAllProcesses();
    const failedHook = (this.test?.parent?.suites ?? []).some(function failed(s): boolean {
      const hooks = s as unknown as Record<string, Array<{ state?: string }> | undefined>;
      const all = [...(hooks._beforeAll ?? []), ...(hooks._afterAll ?? [])];
      return all.some((h) => h.state === 'failed') || s.tests.some((t) => t.state === 'failed') || s.suites.some(failed);
    });
    if (process.env.HEARTH_CLUSTER_KEEP === '1' || failures > 0 || failedHook) {
      process.stderr.write(`\ncluster-tests: configs, data and logs kept in ${runDir()}\n`);
    } else {
      removeRunDir();
    }
  },
};
