/**
 * The folder watcher under `run --watch`: a directory deleted and created again (a checkout,
 * `git stash`, `rsync --delete`), the plugin folder itself included, is watched again, so later
 * edits in it still count as changes.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ignored, watchFolders } from '../../src/cli/watch.ts';
import type { FolderWatch } from '../../src/cli/watch.ts';
import { sleep, until } from '../helpers/time.ts';

let dir = '';
let watch: FolderWatch | null = null;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugin-factory-watch-'));
});

afterEach(async () => {
  watch?.close();
  watch = null;
  await rm(dir, { recursive: true, force: true });
});

/** Watches `folder`; `changes()` counts the debounced changes, `errors` what could not be watched. */
function watching(folder: string) {
  let changes = 0;
  const errors: unknown[] = [];
  watch = watchFolders([folder], () => void changes++, (_folder, error) => errors.push(error), 20);
  return { changes: () => changes, errors };
}

/** Runs `step`, then waits for the change it makes to be counted and for quiet after it. */
async function change(counter: { changes(): number }, step: () => Promise<unknown>) {
  const before = counter.changes();
  await step();
  await until(() => counter.changes() > before, 5000);
  await sleep(100);
}

describe('which changes are ignored', () => {
  it('dotfiles, files in hidden folders at any depth (as a recursive watch reports them), node_modules and editor files', () => {
    for (const path of ['.settings.json', '.git/HEAD', 'lib/.cache/x.js', 'node_modules/pkg/index.js', 'index.mjs~', '.index.mjs.swp', 'notes.swp']) expect(ignored(path), path).toBe(true);
    for (const path of ['index.mjs', 'lib/util.mjs', 'plugin.json', 'a.b/c.mjs']) expect(ignored(path), path).toBe(false);
  });
});

describe('watchFolders', () => {
  it('a subdirectory deleted and created again is watched again', async () => {
    const plugin = join(dir, 'plugin');
    await mkdir(join(plugin, 'lib'), { recursive: true });
    await writeFile(join(plugin, 'lib', 'x.mjs'), 'export const v = 1;\n');
    const counter = watching(plugin);
    await sleep(50);
    await change(counter, () => writeFile(join(plugin, 'lib', 'x.mjs'), 'export const v = 2;\n'));
    await change(counter, () => rm(join(plugin, 'lib'), { recursive: true }));
    await change(counter, async () => {
      await mkdir(join(plugin, 'lib'));
      await writeFile(join(plugin, 'lib', 'x.mjs'), 'export const v = 3;\n');
    });
    // The edit that was lost before: the recreated directory had no live watcher.
    await change(counter, () => writeFile(join(plugin, 'lib', 'x.mjs'), 'export const v = 4;\n'));
    expect(counter.errors).toEqual([]);
  });

  it.each(['lib', '.'])('a directory (%s) deleted and created again in one go, before any event is handled, is watched again', async (sub) => {
    const plugin = join(dir, 'plugin');
    const target = join(plugin, sub);
    await mkdir(join(plugin, 'lib'), { recursive: true });
    await writeFile(join(target, 'x.mjs'), 'export const v = 1;\n');
    const counter = watching(plugin);
    await sleep(50);
    // As a checkout does: removed and made again within one turn of the event loop.
    await change(counter, async () => {
      rmSync(target, { recursive: true });
      mkdirSync(join(target, sub === '.' ? 'lib' : ''), { recursive: true });
      writeFileSync(join(target, 'x.mjs'), 'export const v = 2;\n');
    });
    await change(counter, () => writeFile(join(target, 'x.mjs'), 'export const v = 3;\n'));
    expect(counter.errors).toEqual([]);
  });

  it('the plugin folder itself deleted and created again is watched again, its return counted as a change', async () => {
    const plugin = join(dir, 'plugin');
    await mkdir(plugin);
    await writeFile(join(plugin, 'index.mjs'), 'export default 1;\n');
    const counter = watching(plugin);
    await sleep(50);
    await change(counter, () => rm(plugin, { recursive: true }));
    await change(counter, async () => {
      await mkdir(plugin);
      await writeFile(join(plugin, 'index.mjs'), 'export default 2;\n');
    });
    await change(counter, () => writeFile(join(plugin, 'index.mjs'), 'export default 3;\n'));
    expect(counter.errors).toEqual([]);
  });
});
