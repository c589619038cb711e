#!/usr/bin/env node
// The `plugin-factory` bin: the CLI is TypeScript (src/cli.ts), loaded through tsx's ESM hooks.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv.slice(2));
