#!/usr/bin/env -S node --max-semi-space-size=4
// The `hearth` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
// --max-semi-space-size=4 (MB) caps V8's young generation: by default it grows to 16 MB per
// semi-space under a login or message burst and stays there, which costs more memory per idle
// connection than the connection itself; at 4 MB routing throughput and tail latency were no
// worse in bench/ (see the issue note). `npm start` passes the same flag.
import { main } from '../dist/cli.js';

const code = await main(process.argv.slice(2));
process.exit(code);
