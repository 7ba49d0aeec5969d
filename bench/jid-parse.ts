// Micro-benchmark for the JID parser hot path.
// Run: node --import tsx bench/jid-parse.ts
import { parseJid } from '../src/core/jid.js';

interface Case {
  name: string;
  inputs: string[];
}

// Distinct string objects per iteration, as a stream parser would hand them
// over (avoids measuring V8's cached string hashes/flattening of one literal).
function variants(base: string, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push((base + ' ').slice(0, base.length));
  return out;
}

const cases: Case[] = [
  { name: 'user@example.com/res', inputs: variants('user@example.com/res', 1024) },
  { name: 'user@example.com', inputs: variants('user@example.com', 1024) },
  { name: 'Juliet@Example.COM/Balcony (case-mapped)', inputs: variants('Juliet@Example.COM/Balcony', 1024) },
  { name: 'room@conference.example.org/Nick Name', inputs: variants('room@conference.example.org/Nick Name', 1024) },
  { name: 'fußball@éxample.com/♚ (non-ASCII slow path)', inputs: variants('fußball@éxample.com/♚', 1024) },
];

function run(c: Case, ms: number): number {
  const { inputs } = c;
  const mask = inputs.length - 1;
  let n = 0;
  let sink = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  for (;;) {
    for (let i = 0; i < 10_000; i++) sink += parseJid(inputs[(n + i) & mask]).domain.length;
    n += 10_000;
    if (process.hrtime.bigint() >= deadline) break;
  }
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  if (sink === 42) console.log('');
  return n / secs;
}

for (const c of cases) run(c, 300); // warm-up
for (const c of cases) {
  const rate = run(c, 1500);
  console.log(`${c.name.padEnd(48)} ${(rate / 1e6).toFixed(2)} M parses/s  (${(1e9 / rate).toFixed(0)} ns/op)`);
}
