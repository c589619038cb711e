#!/usr/bin/env node
// The `plugin-factory` bin: the CLI is TypeScript (src/cli.ts), loaded through tsx's ESM hooks.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli.ts');
await runCli(process.argv.slice(2));
