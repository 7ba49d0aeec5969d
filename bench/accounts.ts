// Benchmark accounts, in the forms the servers under test take in bulk.
//
//   node --import tsx bench/accounts.ts --domain bench.example --users 3000 | hearth user import
//   ... --format prosody --out DATA_PATH   writes Prosody's internal_plain account files
//   ... --format piefxis                   prints XEP-0227 for `ejabberdctl import_piefxis`
//
// Account i is <prefix><i>@<domain> with one shared password (the load generator's defaults).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const HELP = `Usage: node --import tsx bench/accounts.ts [options]

  --domain D        account domain (localhost)
  --users N         accounts 0..N-1 (200)
  --first I         first account number (0)
  --user-prefix S   account i is <prefix><i>@<domain> (bench)
  --password S      password of every account (bench-password)
  --format F        lines: "jid password" per line, for hearth user import (default)
                    prosody: write <out>/<host>/accounts/<user>.dat, Prosody's own
                             file storage with a plaintext password (internal_plain)
                    piefxis: XEP-0227 document for ejabberdctl import_piefxis
  --out DIR         prosody: the data_path to write into`;

const { values } = parseArgs({
  options: {
    domain: { type: 'string', default: 'localhost' },
    users: { type: 'string', default: '200' },
    first: { type: 'string', default: '0' },
    'user-prefix': { type: 'string', default: 'bench' },
    password: { type: 'string', default: 'bench-password' },
    format: { type: 'string', default: 'lines' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(HELP + '\n');
  process.exit(0);
}
const users = Number(values.users);
const first = Number(values.first);
if (!Number.isInteger(users) || users < 0 || !Number.isInteger(first) || first < 0) {
  process.stderr.write('--users and --first: non-negative integers\n');
  process.exit(2);
}
const { domain, password } = values;
const prefix = values['user-prefix'];
if (!/^[a-z0-9._-]+$/.test(prefix) || !/^[a-z0-9.-]+$/.test(domain)) {
  process.stderr.write('--user-prefix and --domain: lowercase ASCII letters, digits, ".", "-" (and "_" in the prefix)\n');
  process.exit(2);
}

const names = (function* () {
  for (let i = first; i < first + users; i++) yield `${prefix}${i}`;
})();

/** Prosody's datamanager path encoding: every non-alphanumeric byte as %xx. */
function prosodyEncode(s: string): string {
  return s.replace(/[^A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
function luaString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}
function xmlAttr(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

switch (values.format) {
  case 'lines': {
    const out: string[] = [];
    for (const name of names) out.push(`${name}@${domain} ${password}\n`);
    process.stdout.write(out.join(''));
    break;
  }
  case 'prosody': {
    if (!values.out) {
      process.stderr.write('--format prosody needs --out DATA_PATH\n');
      process.exit(2);
    }
    // What mod_auth_internal_plain's create_user stores: accounts:set(user, {password = ...}).
    const dir = path.join(values.out, prosodyEncode(domain), 'accounts');
    mkdirSync(dir, { recursive: true });
    const body = `return {\n\t["password"] = ${luaString(password)};\n};\n`;
    let n = 0;
    for (const name of names) {
      writeFileSync(path.join(dir, `${prosodyEncode(name)}.dat`), body);
      n++;
    }
    process.stderr.write(`wrote ${n} accounts to ${dir}\n`);
    break;
  }
  case 'piefxis': {
    const out = [`<?xml version='1.0' encoding='UTF-8'?>\n<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='${xmlAttr(domain)}'>\n`];
    for (const name of names) out.push(`<user name='${xmlAttr(name)}' password='${xmlAttr(password)}'/>\n`);
    out.push('</host>\n</server-data>\n');
    process.stdout.write(out.join(''));
    break;
  }
  default:
    process.stderr.write(`--format: lines, prosody or piefxis, got "${values.format}"\n`);
    process.exit(2);
}
