// A tiny authoritative DNS server over UDP for tests (RFC 1035 §4 message format, RFC 2782
// SRV records): no DNS server answers on these machines, so SRV resolution is tested against
// this one. It answers A and SRV questions from a table, NXDOMAIN for unknown names.
import dgram from 'node:dgram';

export interface SrvAnswer {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface DnsZone {
  a?: Record<string, string[]>;
  srv?: Record<string, SrvAnswer[]>;
}

const TYPE_A = 1;
const TYPE_SRV = 33;

function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

function readQuestion(message: Buffer): { name: string; type: number; end: number } | null {
  let offset = 12;
  const labels: string[] = [];
  while (offset < message.length) {
    const length = message[offset]!;
    if (length === 0) break;
    if (length > 63) return null; // compression is not used in questions
    labels.push(message.subarray(offset + 1, offset + 1 + length).toString('ascii'));
    offset += length + 1;
  }
  if (offset + 5 > message.length) return null;
  return { name: labels.join('.').toLowerCase(), type: message.readUInt16BE(offset + 1), end: offset + 5 };
}

function record(type: number, rdata: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  header.writeUInt16BE(type, 2);
  header.writeUInt16BE(1, 4); // class IN
  header.writeUInt32BE(60, 6); // TTL
  header.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([header, rdata]);
}

export function answer(query: Buffer, zone: DnsZone): Buffer | null {
  if (query.length < 12) return null;
  const question = readQuestion(query);
  if (!question) return null;
  const answers: Buffer[] = [];
  if (question.type === TYPE_A) {
    for (const ip of zone.a?.[question.name] ?? []) answers.push(record(TYPE_A, Buffer.from(ip.split('.').map(Number))));
  } else if (question.type === TYPE_SRV) {
    for (const srv of zone.srv?.[question.name] ?? []) {
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(srv.priority, 0);
      fixed.writeUInt16BE(srv.weight, 2);
      fixed.writeUInt16BE(srv.port, 4);
      answers.push(record(TYPE_SRV, Buffer.concat([fixed, encodeName(srv.target)])));
    }
  }
  const known = Boolean(zone.a?.[question.name] || zone.srv?.[question.name]);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0); // same id
  header.writeUInt16BE(0x8400 | (known ? 0 : 3), 2); // response, authoritative; NXDOMAIN when unknown
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers.length, 6);
  return Buffer.concat([header, query.subarray(12, question.end), ...answers]);
}

export interface TestDnsServer {
  /** "host:port" for dns.Resolver#setServers. */
  address: string;
  close(): Promise<void>;
}

export function startDnsServer(host: string, zone: DnsZone): Promise<TestDnsServer> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, remote) => {
    const reply = answer(message, zone);
    if (reply) socket.send(reply, remote.port, remote.address);
  });
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      resolve({ address: `${host}:${port}`, close: () => new Promise((r) => socket.close(() => r())) });
    });
  });
}
