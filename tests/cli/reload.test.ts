/**
 * The `run --watch` reloader against a stand-in manager, for states the real host reaches only
 * through a fault: a crashed plugin actor can never take a reload, so a change to it is refused
 * at once rather than after waiting for a reload in progress that does not exist.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PluginFactoryError, loadPluginFolder } from '../../src/index.ts';
import type { LoadedHost, PluginManager } from '../../src/index.ts';
import { watchAndReload } from '../../src/cli/reload.ts';

let dir = '';

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function onePluginHost(): Promise<LoadedHost> {
  dir = await mkdtemp(join(tmpdir(), 'plugin-factory-reload-'));
  const folder = join(dir, 'base');
  await mkdir(folder);
  await writeFile(join(folder, 'plugin.json'), JSON.stringify({ name: 'base', version: '1.0.0' }));
  await writeFile(join(folder, 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
  const definition = await loadPluginFolder(folder);
  return { definitions: [definition], problems: [], settings: {}, hostFile: null, folders: [folder] };
}

/** A host whose one plugin takes reloads, in the state `state()` says, each answered by `reload(call)` (1 for the first call). */
function answeringManager(state: () => string, reload: (name: string, call: number) => unknown) {
  let calls = 0;
  const manager = {
    getSnapshot: () => ({ plugins: [{ name: 'base', state: state() }] }),
    can: () => true,
    subscribe: () => ({ unsubscribe() {} }),
    reloadPlugin: async (name: string) => reload(name, ++calls),
  };
  return { manager: manager as unknown as PluginManager, calls: () => calls };
}

/** A host whose one plugin is in `state` and takes no reload. */
function refusingManager(state: string) {
  const reloads: string[] = [];
  let subscribers = 0;
  const manager = {
    getSnapshot: () => ({ plugins: [{ name: 'base', state }] }),
    can: () => false,
    subscribe: () => {
      subscribers += 1;
      return { unsubscribe: () => (subscribers -= 1) };
    },
    reloadPlugin: async (name: string) => {
      reloads.push(name);
      throw new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': cannot reload`, { plugin: name });
    },
  };
  return { manager: manager as unknown as PluginManager, reloads, subscribers: () => subscribers };
}

describe('run --watch reloader', () => {
  it('an error no step of the reload catches is warned about, not dropped', async () => {
    const host = await onePluginHost();
    const manager = {
      getSnapshot: () => ({ plugins: [{ name: 'base', state: 'running' }] }),
      can: () => true,
      subscribe: () => ({ unsubscribe() {} }),
      reloadPlugin: async () => ({ name: 'base', state: 'running' }),
    } as unknown as PluginManager;
    let failed!: (line: string) => void;
    const warned = new Promise<string>((resolve) => (failed = resolve));
    const learn = () => {
      throw new PluginFactoryError('INTERNAL_ERROR', 'learn broke');
    };
    const watch = watchAndReload({ host, manager, verbose: false, note: () => {}, warn: (line) => failed(line), stopping: () => false, learn });
    try {
      await writeFile(join(host.folders[0]!, 'index.mjs'), 'export default { init() {}, start() {}, stop() { return 3; } };\n');
      expect(await warned).toMatch(/^reload of base failed: INTERNAL_ERROR/);
    } finally {
      await watch.close();
    }
  });

  it('a change refused because the plugin was busy is tried again once it is not, and said once as a change, then as a retry', async () => {
    const host = await onePluginHost();
    const { manager, calls } = answeringManager(
      () => 'running',
      (name, call) => {
        if (call === 1) throw new PluginFactoryError('INVALID_TRANSITION', `plugin '${name}': cannot reload`, { plugin: name });
        return { name, state: 'running' };
      },
    );
    const notes: string[] = [];
    let reloaded!: () => void;
    const done = new Promise<void>((resolve) => (reloaded = resolve));
    const note = (line: string) => {
      notes.push(line);
      if (line.startsWith('reloaded base')) reloaded();
    };
    const watch = watchAndReload({ host, manager, verbose: false, note, warn: () => {}, stopping: () => false });
    try {
      await writeFile(join(host.folders[0]!, 'index.mjs'), 'export default { init() {}, start() {}, stop() { return 4; } };\n');
      await done;
      expect(calls()).toBe(2);
      const reloading = notes.filter((line) => line.startsWith('reloading base'));
      expect(reloading).toHaveLength(2);
      expect(reloading[0]).toMatch(/^reloading base \(.* changed\)$/);
      expect(reloading[1]).toMatch(/^reloading base again/);
    } finally {
      await watch.close();
    }
  });

  it('a new version installed but blocked on a requirement is reported as reloaded, not failed, and not tried again', async () => {
    const host = await onePluginHost();
    let installed = false;
    const { manager, calls } = answeringManager(
      () => (installed ? 'failed.blocked' : 'failed.halted'),
      (name) => {
        installed = true;
        throw new PluginFactoryError('DEPENDENCY_FAILED', `plugin '${name}': blocked by 'db'`, { plugin: name, plugins: ['db'] });
      },
    );
    const notes: string[] = [];
    const warnings: string[] = [];
    let reported!: () => void;
    const done = new Promise<void>((resolve) => (reported = resolve));
    const watch = watchAndReload({ host, manager, verbose: false, note: (line) => (notes.push(line), line.startsWith('reloaded') && reported()), warn: (line) => (warnings.push(line), reported()), stopping: () => false });
    try {
      await writeFile(join(host.folders[0]!, 'index.mjs'), 'export default { init() {}, start() {}, stop() { return 5; } };\n');
      await done;
      expect(notes.at(-1)).toMatch(/^reloaded base: failed\.blocked/);
      expect(warnings).toEqual([]);
      expect(calls()).toBe(1);
    } finally {
      await watch.close();
    }
  });

  it('a change waiting for a busy plugin when the host starts stopping is said to be given up, not failed', async () => {
    const host = await onePluginHost();
    const { manager } = refusingManager('stopping');
    let stopping = false;
    const notes: string[] = [];
    const warnings: string[] = [];
    let gaveUp!: () => void;
    const done = new Promise<void>((resolve) => (gaveUp = resolve));
    const note = (line: string) => {
      notes.push(line);
      if (line.includes('waits')) setTimeout(() => (stopping = true), 20);
      if (line.includes('given up')) gaveUp();
    };
    const watch = watchAndReload({ host, manager, verbose: false, note, warn: (line) => warnings.push(line), stopping: () => stopping });
    try {
      await writeFile(join(host.folders[0]!, 'index.mjs'), 'export default { init() {}, start() {}, stop() { return 6; } };\n');
      await done;
      expect(warnings).toEqual([]);
    } finally {
      await watch.close();
    }
  });

  it('a change to a crashed plugin is refused at once, not held for a reload in progress', async () => {
    const host = await onePluginHost();
    const { manager, reloads, subscribers } = refusingManager('crashed');
    const notes: string[] = [];
    let failed!: (line: string) => void;
    const warned = new Promise<string>((resolve) => (failed = resolve));
    const watch = watchAndReload({ host, manager, verbose: false, note: (line) => notes.push(line), warn: (line) => failed(line), stopping: () => false });
    try {
      await writeFile(join(host.folders[0]!, 'index.mjs'), 'export default { init() {}, start() {}, stop() { return 2; } };\n');
      const line = await warned;
      expect(line).toMatch(/^reload of base failed: INVALID_TRANSITION: .*base is now crashed$/);
      expect(reloads).toEqual(['base']);
      expect(notes.some((note) => note.includes('waits'))).toBe(false);
      expect(subscribers()).toBe(0);
    } finally {
      await watch.close();
    }
  });
});
