// Micro-benchmark for the XMPP stream tokenizer (src/xml/stream-parser.ts).
// Run: node --import tsx bench/xml-parse.ts [stanzaCount] [chunkSize]
import { XmlStreamParser } from '../src/xml/stream-parser.js';

const count = Number(process.argv[2] ?? 200_000);
const chunkSize = Number(process.argv[3] ?? 4096);

const header =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
const stanza = "<message to='a@b/c' type='chat' id='x1'><body>hello world</body></message>";
const input = Buffer.from(header + stanza.repeat(count) + '</stream:stream>');
const chunks: Buffer[] = [];
for (let i = 0; i < input.length; i += chunkSize) chunks.push(input.subarray(i, i + chunkSize));

function runOnce(): { stanzas: number; ms: number } {
  let stanzas = 0;
  let failure: string | null = null;
  const parser = new XmlStreamParser(
    {
      streamStart() {},
      element() {
        stanzas++;
      },
      streamEnd() {},
      error(condition, text) {
        failure = `${condition}: ${text}`;
      },
    },
    { maxStanzaBytes: 65536, maxDepth: 32, maxAttributes: 64 },
  );
  const t0 = process.hrtime.bigint();
  for (const c of chunks) parser.write(c);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (failure !== null) throw new Error(`parser error: ${failure}`);
  if (stanzas !== count) throw new Error(`expected ${count} stanzas, got ${stanzas}`);
  return { stanzas, ms };
}

runOnce(); // warm-up
runOnce();
const runs = Array.from({ length: 7 }, runOnce);
const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
const mb = input.length / (1024 * 1024);
console.log(
  `${count} stanzas, ${mb.toFixed(1)} MB in ${chunkSize}-byte chunks: best of 7 ${best.ms.toFixed(0)} ms` +
    ` = ${Math.round(count / (best.ms / 1000)).toLocaleString('en-US')} stanzas/s, ${(mb / (best.ms / 1000)).toFixed(1)} MB/s`,
);
