// Time and CPU meters shared by the load generators: the generator's own CPU, the server's
// (utime + stime of its pids from /proc), and the rest of the machine's, per phase.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const T0 = process.hrtime.bigint();
/** Nanoseconds since the generator started (a double: exact for 104 days). */
export function nowNs(): number {
  return Number(process.hrtime.bigint() - T0);
}
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let clockTicks = 100;
try {
  clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  /* Linux's usual value */
}

/** CPU seconds (utime + stime) of each server process from /proc/PID/stat, or null. */
export function serverCpuByPid(pids: number[] | null): number[] | null {
  if (pids === null) return null;
  const out: number[] = [];
  try {
    for (const pid of pids) {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Fields after the parenthesised command name, which may itself hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push((Number(fields[11]) + Number(fields[12])) / clockTicks); // utime, stime (fields 14, 15)
    }
  } catch {
    return null;
  }
  return out;
}

/** Server resident memory in KB (VmRSS), summed over the pids, or null. */
export function serverRssKb(pids: number[] | null): number | null {
  if (pids === null) return null;
  let kb = 0;
  try {
    for (const pid of pids) {
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!m) return null;
      kb += Number(m[1]);
    }
  } catch {
    return null;
  }
  return kb;
}

/** CPU seconds the whole machine spent busy (all cores, /proc/stat), or null. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal ...
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    return (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!) / clockTicks;
  } catch {
    return null;
  }
}

export interface Meter {
  wall0: number;
  cpu0: NodeJS.CpuUsage;
  server0: number | null;
  /** Per server process (same order as the pids), when there are several. */
  servers0: number[] | null;
  machine0: number | null;
}
export function startMeter(pid: number[] | null): Meter {
  const byPid = serverCpuByPid(pid);
  return {
    wall0: nowNs(),
    cpu0: process.cpuUsage(),
    server0: byPid === null ? null : byPid.reduce((a, b) => a + b, 0),
    servers0: byPid !== null && byPid.length > 1 ? byPid : null,
    machine0: machineBusySeconds(),
  };
}
export interface MeterReading {
  seconds: number;
  generatorCpuPct: number;
  serverCpuPct: number | null;
  /** Server CPU time (utime + stime) used in the phase. */
  serverCpuSeconds: number | null;
  /** With several server pids: each one's CPU seconds in the phase, in --server-pid order. */
  serverCpuSecondsByPid?: number[];
  /**
   * Busy CPU of the whole machine not accounted to the generator or the server (% of one
   * core): other processes, and kernel work (softirq) not charged to either. High values
   * mean the run was disturbed.
   */
  otherCpuPct: number | null;
}
/** The meter's reading now. */
export function readMeter(m: Meter, pid: number[] | null): MeterReading {
  return readBetween(m, startMeter(pid));
}
/** The reading between two snapshots taken by startMeter (same pid). */
export function readBetween(m: Meter, end: Meter): MeterReading {
  const seconds = (end.wall0 - m.wall0) / 1e9;
  const cpu = { user: end.cpu0.user - m.cpu0.user, system: end.cpu0.system - m.cpu0.system };
  const server1 = end.server0;
  const machine1 = end.machine0;
  const pct = (cpuSeconds: number) => round((cpuSeconds / Math.max(seconds, 1e-9)) * 100, 1);
  const generator = (cpu.user + cpu.system) / 1e6;
  const server = m.server0 !== null && server1 !== null ? server1 - m.server0 : null;
  return {
    seconds: round(seconds, 3),
    generatorCpuPct: pct(generator),
    serverCpuPct: server === null ? null : pct(server),
    serverCpuSeconds: server === null ? null : round(server, 2),
    ...(m.servers0 !== null && end.servers0 !== null ? { serverCpuSecondsByPid: end.servers0.map((s, i) => round(s - m.servers0![i]!, 2)) } : {}),
    otherCpuPct: m.machine0 !== null && machine1 !== null ? pct(Math.max(0, machine1 - m.machine0 - generator - (server ?? 0))) : null,
  };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
