// Runs the real `hearth` command (bin/hearth.js over dist/, built by `npm test`) as an
// operator would: one-shot commands, and `hearth start` as a child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HEARTH_BIN = path.join(root, 'bin', 'hearth.js');

/** The child's environment: the test's own config pointers and CA path do not leak into it. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.HEARTH_CONFIG;
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `hearth ARGS` in `cwd`, to completion (30 s at most). */
export function runHearth(args: string[], options: { cwd: string; input?: string; env?: NodeJS.ProcessEnv }): CommandResult {
  const result = spawnSync(process.execPath, [HEARTH_BIN, ...args], {
    cwd: options.cwd,
    input: options.input ?? '',
    env: childEnv(options.env),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

export interface StartedHearth {
  process: ChildProcess;
  /** The c2s (STARTTLS) port from the "ready" line. */
  port: number;
  /** The admin API's base URL from the "ready" line, or null when it has no admin listener. */
  adminUrl: string | null;
  exited: Promise<number | null>;
}

export interface StartHearthOptions {
  /** Appends everything the process prints (stdout and stderr) to this file. */
  logFile?: string;
  /** More arguments after `start` (e.g. --workers 2). */
  args?: string[];
}

/** Starts `hearth start` and waits for the "ready" log line, which names the addresses. */
export function startHearth(cwd: string, env: NodeJS.ProcessEnv = {}, options: StartHearthOptions = {}): Promise<StartedHearth> {
  const child = spawn(process.execPath, [HEARTH_BIN, 'start', ...(options.args ?? [])], { cwd, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  if (options.logFile) {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout!.on('data', (chunk: Buffer | string) => log.write(chunk));
    child.stderr!.on('data', (chunk: Buffer | string) => log.write(chunk));
    child.on('close', () => log.end());
  }
  return new Promise((resolve, reject) => {
    let output = '';
    let isReady = false;
    const timer = setTimeout(() => reject(new Error(`no ready line within 20 s: ${output}`)), 20_000);
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      if (!isReady) output += chunk;
    });
    child.stdout!.on('data', (chunk: string) => {
      // Once ready, the output is no longer kept (a long run at log level debug is large).
      if (isReady) return;
      output += chunk;
      for (const line of output.split('\n')) {
        if (!line.includes('"msg":"ready"')) continue;
        const ready = JSON.parse(line) as { addresses: string[] };
        const c2s = ready.addresses.find((a) => a.startsWith('c2s '));
        const admin = ready.addresses.find((a) => a.startsWith('admin '));
        clearTimeout(timer);
        isReady = true;
        resolve({
          process: child,
          port: Number(c2s!.slice(c2s!.lastIndexOf(':') + 1)),
          adminUrl: admin ? `http://${admin.slice('admin '.length)}` : null,
          exited,
        });
        return;
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hearth exited with ${code}: ${output}`));
    });
  });
}
