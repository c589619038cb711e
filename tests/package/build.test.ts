/**
 * The built package (`npm run build`): what package.json's `exports` names exists after a build,
 * and it runs under plain Node with no TypeScript loader, dashboard page included.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, exitOf, killAll, startProcess } from '../helpers/process.ts';

afterEach(killAll);

/** Inside the project, so that the build finds node_modules the way an installed package does. */
const OUT = 'test-artifacts/package-build';

/** Boots a plugin and serves the page from the built entry, with plain `node`. */
const SMOKE = `
const { createPluginManager, serveDashboard, silentLogger, ERROR_CODES } = await import(process.argv[1]);
const manager = createPluginManager({ logger: silentLogger, plugins: [{ manifest: { name: 'db', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } }] });
const snapshot = await manager.start();
const dashboard = await serveDashboard(manager, { port: 0 });
const script = await fetch(new URL('/assets/dashboard.js', dashboard.url));
const body = await script.text();
await dashboard.close();
await manager.stop();
console.log(JSON.stringify({ state: snapshot.plugins[0].state, script: script.status, bundled: body.includes('EventSource'), codes: Object.keys(ERROR_CODES).length > 0 }));
`;

/** Walks a lifecycle path with the built test kit. */
const KIT = `
const { lifecyclePaths } = await import(process.argv[1]);
const paths = lifecyclePaths({ manifest: { name: 'db', version: '1.0.0' }, module: { init() {}, start() {}, stop() {} } });
const report = await paths.find((p) => p.name === 'VALID → INIT → INIT_OK → START → START_OK').run();
console.log(JSON.stringify({ paths: paths.length > 100, calls: report.calls }));
`;

describe('the built package', () => {
  it('has what exports names, and runs under plain node with the dashboard page', async () => {
    const build = startProcess('npx', ['tsx', 'scripts/build.ts', '--out-dir', OUT]);
    const built = await exitOf(build, 120_000);
    expect(built.code, build.err()).toBe(0);

    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      exports: Record<string, Record<string, string> | string>;
      main: string;
      types: string;
      typesVersions: Record<string, Record<string, string[]>>;
    };
    expect(Object.keys(pkg.exports)).toEqual(['.', './testing', './package.json']);
    expect(pkg.exports['./package.json']).toBe('./package.json');
    const entries = [pkg.exports['.'], pkg.exports['./testing']] as Array<Record<string, string>>;
    // Resolvers that do not read `exports` (TypeScript's old `node` resolution) find the same entry.
    expect([pkg.main, pkg.types]).toEqual([entries[0]!['default'], entries[0]!['types']]);
    // … and the testing entry's types, through typesVersions.
    expect(pkg.typesVersions['*']!['testing']).toEqual([entries[1]!['types']]);
    const targets = entries.flatMap((entry) => Object.values(entry));
    expect(targets.length).toBe(4);
    for (const target of targets) {
      expect(target.startsWith('./dist/'), target).toBe(true);
      expect(existsSync(join(ROOT, OUT, target.slice('./dist/'.length))), target).toBe(true);
    }
    expect(readFileSync(join(ROOT, OUT, 'src', 'index.d.ts'), 'utf8')).toMatch(/createPluginManager/);
    // The project's own scripts (the demo host, the README and schema generators) are not the package's.
    for (const script of ['demo', 'docs', 'schema']) expect(existsSync(join(ROOT, OUT, 'src', `${script}.js`)), script).toBe(false);

    // What the built files import from packages is what an installed package brings: its
    // dependencies, with their types (a TypeScript consumer checks our .d.ts files against them),
    // and no dependency that nothing imports.
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const imported = (ext: string) => {
      const names = new Set<string>();
      for (const file of readdirSync(join(ROOT, OUT), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(ext))) {
        const code = readFileSync(join(ROOT, OUT, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, ''); // examples in comments import the package itself
        for (const [, spec] of code.matchAll(/(?:from |import\()'(@?[a-z0-9][a-z0-9._/-]*)'/g)) {
          if (!spec!.startsWith('node:')) names.add(spec!.startsWith('@') ? spec!.split('/').slice(0, 2).join('/') : spec!.split('/')[0]!);
        }
      }
      return names;
    };
    const typed = (name: string) => {
      const own = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as Record<string, unknown>;
      return own['types'] !== undefined || own['typings'] !== undefined || JSON.stringify(own['exports'] ?? {}).includes('"types"') || existsSync(join(ROOT, 'node_modules', name, 'index.d.ts')) ? name : `@types/${name}`;
    };
    const declared = imported('.d.ts');
    const running = imported('.js');
    for (const name of running) expect(manifest.dependencies, name).toHaveProperty([name]);
    for (const name of declared) expect(manifest.dependencies, typed(name)).toHaveProperty([typed(name)]);
    const used = new Set([...running, ...[...declared].map(typed)]);
    for (const name of Object.keys(manifest.dependencies)) expect(used.has(name), `dependency ${name} is imported nowhere`).toBe(true);

    const entry = join(ROOT, OUT, 'src', 'index.js');
    const smoke = startProcess(process.execPath, ['--input-type=module', '-e', SMOKE, entry], { NODE_OPTIONS: '' });
    const ran = await exitOf(smoke, 30_000);
    expect(ran.code, smoke.err()).toBe(0);
    expect(JSON.parse(smoke.out().trim())).toEqual({ state: 'running', script: 200, bundled: true, codes: true });

    const kit = startProcess(process.execPath, ['--input-type=module', '-e', KIT, join(ROOT, OUT, 'src', 'testing', 'index.js')], { NODE_OPTIONS: '' });
    expect((await exitOf(kit, 30_000)).code, kit.err()).toBe(0);
    expect(JSON.parse(kit.out().trim())).toEqual({ paths: true, calls: { init: 1, start: 1, stop: 1, dispose: 0 } });
  }, 180_000);

  it.each(['.', '..', 'src'])('refuses --out-dir %s (the build empties it) and leaves the project as it was', async (dir) => {
    const build = startProcess('npx', ['tsx', 'scripts/build.ts', '--out-dir', dir]);
    expect((await exitOf(build, 60_000)).code).toBe(2);
    expect(existsSync(join(ROOT, 'src', 'index.ts'))).toBe(true);
    expect(existsSync(join(ROOT, 'package.json'))).toBe(true);
  }, 90_000);

  it("packs what the bin and the exports need, without the project's own scripts", async () => {
    // What `npm publish` would send, without building (the build is the test above's).
    const pack = startProcess('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']);
    const packed = await exitOf(pack, 60_000);
    expect(packed.code, pack.err()).toBe(0);
    const files = new Set((JSON.parse(pack.out()) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((file) => file.path));
    for (const needed of ['bin/plugin-factory.mjs', 'src/cli.ts', 'src/index.ts', 'machines/plugin-lifecycle.ts', 'schema/plugin.schema.json', 'docs/testing.md', 'README.md', 'package.json']) {
      expect(files.has(needed), needed).toBe(true);
    }
    // The demo host (it reads plugins/, which does not ship) and the generators of the README
    // and the schema (run from an install, they would rewrite files inside node_modules).
    for (const script of ['src/demo.ts', 'src/docs.ts', 'src/schema.ts']) expect(files.has(script), script).toBe(false);
    expect([...files].filter((file) => /^(tests|scratch|test-artifacts|bench|plugins)\//.test(file))).toEqual([]);
  });
});
