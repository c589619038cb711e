/**
 * `npm run build [-- --out-dir DIR]`: the package as plain JavaScript with type declarations, so
 * that it imports without a TypeScript loader. tsc compiles src/ and machines/ into DIR (default
 * dist/); the dashboard page's script is bundled once here and written beside its HTML and CSS.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CLIENT_FILES, CLIENT_SCRIPT, bundleClientScript } from '../src/dashboard/assets.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Folders of the project that hold sources or tooling. */
const SOURCES = new Set(['.git', '.ci', 'bench', 'bin', 'docs', 'examples', 'machines', 'node_modules', 'plugins', 'schema', 'scripts', 'src', 'tests']);
const { values } = parseArgs({ options: { 'out-dir': { type: 'string', default: 'dist' } } });
const outDir = resolve(root, values['out-dir']);
// The output folder is emptied first: it must be a folder of its own inside the project, never
// the project, one of its parents or a folder of sources.
const inside = relative(root, outDir);
const top = inside.split(sep)[0] ?? '';
if (inside === '' || inside.startsWith('..') || isAbsolute(inside) || SOURCES.has(top)) {
  process.stderr.write(`build: --out-dir must name a folder of its own inside the project (such as dist), not '${values['out-dir']}'\n`);
  process.exit(2);
}

await rm(outDir, { recursive: true, force: true });
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: root, stdio: 'inherit' });
const client = join(outDir, 'src', 'dashboard', 'client');
await mkdir(client, { recursive: true });
for (const file of CLIENT_FILES) await copyFile(join(root, 'src', 'dashboard', 'client', file), join(client, file));
await writeFile(join(client, CLIENT_SCRIPT), await bundleClientScript());
process.stdout.write(`built ${values['out-dir']}\n`);
