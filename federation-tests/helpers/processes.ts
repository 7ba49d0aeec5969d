// Every process a federation test starts is registered here, so that it is ended by its pid
// even when a test fails or mocha is interrupted: each test file stops its own in after(),
// the root hook stops any left over, and process exit sends SIGKILL to the rest.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

const running = new Set<ManagedProcess>();

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;
  /** Every output line (stdout and stderr), in arrival order. */
  readonly lines: string[] = [];
  private readonly lineWaiters = new Set<() => void>();
  private readonly logFile: WriteStream | null;
  private partial = '';

  constructor(
    readonly name: string,
    command: string,
    args: string[],
    options: SpawnOptions & { logFile?: string },
  ) {
    this.logFile = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : null;
    this.child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        running.delete(this);
        this.flushPartial();
        this.notify();
        this.logFile?.end();
        resolve(code);
      });
      this.child.on('error', (err) => {
        this.lines.push(`[spawn error] ${err.message}`);
        this.exitCode = -1;
        running.delete(this);
        this.notify();
        resolve(null);
      });
    });
    const onData = (chunk: Buffer) => {
      const text = this.partial + chunk.toString('utf8');
      const parts = text.split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) this.addLine(line);
      this.logFile?.write(chunk);
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  private addLine(line: string): void {
    if (this.lines.length > 200_000) this.lines.splice(0, 100_000);
    this.lines.push(line);
    this.notify();
  }

  private flushPartial(): void {
    if (this.partial) this.addLine(this.partial);
    this.partial = '';
  }

  private notify(): void {
    for (const waiter of [...this.lineWaiters]) waiter();
  }

  /** The first output line (from the start) matching, waiting at most ms for it. */
  waitForLine(pattern: RegExp, ms: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      let index = from;
      const check = () => {
        for (; index < this.lines.length; index++) {
          if (pattern.test(this.lines[index]!)) {
            done();
            resolve(this.lines[index]!);
            return;
          }
        }
        if (!this.alive) {
          done();
          reject(new Error(`${this.name} exited (${this.exitCode}) before printing ${pattern}:\n${this.tail(40)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no line matching ${pattern} within ${ms} ms:\n${this.tail(40)}`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        this.lineWaiters.delete(check);
      };
      this.lineWaiters.add(check);
      check();
    });
  }

  tail(n: number): string {
    return this.lines.slice(-n).join('\n');
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. Resolves with the exit code. */
  async stop(graceMs = 12_000): Promise<number | null> {
    if (!this.alive) return this.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (this.alive) this.child.kill('SIGKILL');
    }, graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  kill(): Promise<number | null> {
    if (this.alive) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Stops every process still running (root hook and file after() hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(5_000)));
}

export function runningProcesses(): ManagedProcess[] {
  return [...running];
}

/** Runs a command to completion (bounded), without blocking the event loop. */
export function run(
  command: string,
  args: string[],
  options: SpawnOptions & { input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timeoutMs = options.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin!.end(options.input ?? '');
  });
}

process.on('exit', () => {
  for (const p of running) {
    try {
      if (p.pid) process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
