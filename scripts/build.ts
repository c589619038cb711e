/**
 * `npm run build [-- --out-dir DIR]`: the package as plain JavaScript with type declarations, so
 * that it imports without a TypeScript loader. tsc compiles src/ and machines/ into DIR (default
 * dist/); the dashboard page's script is bundled once here and written beside its HTML and CSS.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLIENT_FILES, CLIENT_SCRIPT, bundleClientScript } from '../src/dashboard/assets.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: 'dist' } } });
const outDir = resolve(root, values['out-dir']);

await rm(outDir, { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root, stdio: 'inherit' });
const client = join(outDir, 'src', 'dashboard', 'client');
await mkdir(client, { recursive: true });
for (const file of CLIENT_FILES) await copyFile(join(root, 'src', 'dashboard', 'client', file), join(client, file));
await writeFile(join(client, CLIENT_SCRIPT), await bundleClientScript());
process.stdout.write(`built ${values['out-dir']}\n`);
