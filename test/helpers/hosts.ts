// Maps test host names to loopback addresses in /etc/hosts (idempotently), for clients that
// verify certificates against the host name they connect to (contract.md allows this).
import { appendFileSync, readFileSync } from 'node:fs';

export function ensureHostsEntry(name: string, address: string): void {
  const hosts = readFileSync('/etc/hosts', 'utf8');
  const present = hosts.split('\n').some((line) => {
    const [ip, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    return ip === address && names.includes(name);
  });
  if (!present) appendFileSync('/etc/hosts', `${hosts.endsWith('\n') ? '' : '\n'}${address} ${name}\n`);
}
