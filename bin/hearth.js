#!/usr/bin/env node
// The `hearth` command. The TypeScript sources are compiled to dist/ by `npm ci` (prepare).
import { main } from '../dist/cli.js';

const code = await main(process.argv.slice(2));
process.exit(code);
