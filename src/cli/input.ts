// Reading secrets and lines from the terminal or stdin.
import { createInterface } from 'node:readline';
import { ServiceError } from '../services/errors.js';

/** Prompts without echo on a terminal; otherwise takes the first line of stdin. */
export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    const lines = await readAllLines(1);
    if (lines.length === 0 || lines[0] === '') throw new ServiceError('invalid', 'no password given (use --password or pipe it on stdin)', 'password');
    return lines[0]!;
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return await new Promise<string>((resolve, reject) => {
    let password = '';
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === '\r' || char === '\n') {
          finish();
          resolve(password);
          return;
        }
        if (char === '\u0003') {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (char === '\u007f' || char === '\b') password = password.slice(0, -1);
        else password += char;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

export async function readAllLines(limit = Infinity): Promise<string[]> {
  const lines: string[] = [];
  const reader = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of reader) {
    lines.push(line);
    if (lines.length >= limit) break;
  }
  reader.close();
  return lines;
}
