/**
 * Discovery: a folder of plugin folders, a single plugin folder, or a host file (json or yaml)
 * listing plugin folders and npm packages. Never throws for bad input: every problem comes back
 * as a coded `PluginFactoryError`, either on the plugin concerned (it will be `invalid`) or on
 * the host.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { PluginDefinition } from '../definition.ts';
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { definedOnly, isOptionsObject, quote, unknownOptions } from '../platform/_utils.ts';
import type { RetryPolicy } from '../../machines/plugin-lifecycle.ts';
import type { FailurePolicy } from '../../machines/plugin-registry.ts';
import type { HealthDefaults } from '../runtime.ts';
import { fileInTheWay } from '../manager-options.ts';
import { printable } from '../printable.ts';
import { knownKeysAt, unknownKeyList } from '../unknown-keys.ts';
import type { z } from 'zod';
import { HostFile } from './host-file.ts';
import type { HostPluginEntry } from './host-file.ts';
import { DEFAULT_ENTRIES, MANIFEST_FILES, display, findManifest, isInside, loadPluginFolder, parseJson, parseYaml, syntaxErrorSummary } from './plugin-folder.ts';
import type { FolderOptions } from './plugin-folder.ts';
import { readTextFile } from './read-text.ts';

export interface HostSettings {
  hookTimeoutMs?: number;
  failurePolicy?: FailurePolicy;
  retry?: Partial<RetryPolicy>;
  /** The host file's `dataDir`, resolved against the host file's folder. */
  dataDir?: string;
  health?: Partial<HealthDefaults>;
}

export interface LoadedHost {
  /** Every plugin found, valid or not; createPluginManager registers the broken ones as `invalid`. */
  definitions: PluginDefinition[];
  /** Problems of the host itself: unreadable host file, path not found, duplicate plugin names. */
  problems: PluginFactoryError[];
  /** Host-wide settings from a host file. */
  settings: HostSettings;
  /** The host file read, if the target was one. */
  hostFile: string | null;
  /** Plugin folders, in the order of `definitions` (for watching). */
  folders: string[];
}

export interface LoadOptions {
  /** Import the modules (default true); `false` checks manifests and entries only. */
  importModules?: boolean | undefined;
  /** Base of the paths shown in messages (default: the working directory). */
  displayRoot?: string | undefined;
  /** Called as each plugin folder is loaded: how many of how many (progress for a large host). */
  onLoaded?: ((loaded: number, total: number) => void) | undefined;
}

const HOST_EXTENSIONS = new Set(['.json', '.yaml', '.yml']);

function hostError(message: string, cause?: unknown): PluginFactoryError {
  return new PluginFactoryError('OPTIONS_INVALID', message, cause === undefined ? {} : { cause });
}

const LOAD_OPTIONS: ReadonlySet<string> = new Set(['importModules', 'displayRoot', 'onLoaded']);

/** The options as read once, or what is wrong with them; `onLoaded` guarded (see progressOf). */
function readLoadOptions(options: unknown, result: LoadedHost): { folderOptions: FolderOptions; onLoaded: LoadOptions['onLoaded'] } | null {
  if (options === undefined) return { folderOptions: {}, onLoaded: undefined };
  let read: { [K in keyof LoadOptions]: LoadOptions[K] | undefined };
  try {
    if (!isOptionsObject(options)) throw new Error(`got ${quote(options)}`);
    const unknown = unknownOptions(options, LOAD_OPTIONS);
    if (unknown) throw new Error(unknown);
    const { importModules, displayRoot, onLoaded } = options as LoadOptions;
    if (importModules !== undefined && typeof importModules !== 'boolean') throw new Error(`importModules must be true or false, got ${quote(importModules)}`);
    if (displayRoot !== undefined && typeof displayRoot !== 'string') throw new Error(`displayRoot must be a path, got ${quote(displayRoot)}`);
    if (onLoaded !== undefined && typeof onLoaded !== 'function') throw new Error(`onLoaded must be a function, got ${quote(onLoaded)}`);
    read = { importModules, displayRoot, onLoaded };
  } catch (error) {
    result.problems.push(hostError(`loadHost: the options must be an object such as { importModules: false }: ${describeThrown(error)}`));
    return null;
  }
  return { folderOptions: { displayRoot: read.displayRoot, importModule: read.importModules }, onLoaded: read.onLoaded && progressOf(read.onLoaded, result) };
}

/** The caller's progress callback; one that throws is reported once as a host problem and not called again. */
function progressOf(onLoaded: NonNullable<LoadOptions['onLoaded']>, result: LoadedHost): NonNullable<LoadOptions['onLoaded']> {
  let broken = false;
  return (loaded, total) => {
    if (broken) return;
    try {
      onLoaded(loaded, total);
    } catch (error) {
      broken = true;
      result.problems.push(hostError(`loadHost: the onLoaded callback threw: ${describeThrown(error)}; it is not called again (the loading went on)`, error));
    }
  };
}

/** Loads everything `target` (folder or host file) names. */
export async function loadHost(target: string, options: LoadOptions = {}): Promise<LoadedHost> {
  const result: LoadedHost = { definitions: [], problems: [], settings: {}, hostFile: null, folders: [] };
  if (typeof target !== 'string' || target.trim() === '') {
    const got = typeof target === 'string' ? 'an empty path' : quote(target);
    result.problems.push(hostError(`loadHost needs a folder or host file path, got ${got} (use '.' for the working directory)`));
    return result;
  }
  const read = readLoadOptions(options, result);
  if (!read) return result;
  const { folderOptions, onLoaded } = read;
  const path = resolve(target);
  const found = await stat(path).then(
    (info) => ({ info, code: undefined }),
    (error: NodeJS.ErrnoException) => ({ info: null, code: error.code }),
  );
  const info = found.info;
  if (!info) {
    // Not there is one thing; there but unreachable (a symlink loop, no permission) another.
    const { code } = found;
    const why = code === 'ENOENT' || code === 'ENOTDIR' || code === undefined ? 'does not exist' : `cannot be reached (${code === 'ELOOP' ? 'a loop of symbolic links' : code})`;
    result.problems.push(
      new PluginFactoryError('MANIFEST_NOT_FOUND', `'${printable(target)}' ${why}; give a plugin folder, a folder of plugin folders or a host file`, {
        path: target,
      }),
    );
    return result;
  }
  if (info.isDirectory()) {
    let folders: string[];
    try {
      const manifestHere = await findManifest(path);
      folders = manifestHere ? [path] : await childFolders(path);
      // No manifest, but a plugin's entry module, and no subfolder with a manifest (none at all,
      // or helper folders such as lib/): a plugin folder whose manifest is missing, which says
      // so, rather than a folder of plugins without one each (or with no plugin at all).
      if (!manifestHere && (await hasDefaultEntry(path)) && !(await anyHasManifest(folders))) folders = [path];
    } catch (error) {
      result.problems.push(
        new PluginFactoryError('MANIFEST_NOT_FOUND', `'${printable(target)}' cannot be read: ${describeThrown(error)}; check its permissions`, {
          path: target,
          cause: error,
        }),
      );
      return result;
    }
    for (const [index, folder] of folders.entries()) {
      await addFolder(result, folder, folderOptions);
      onLoaded?.(index + 1, folders.length);
    }
  } else if ((MANIFEST_FILES as readonly string[]).includes(basename(path))) {
    await addFolder(result, dirname(path), folderOptions);
  } else if (HOST_EXTENSIONS.has(extname(path).toLowerCase())) {
    await loadHostFile(result, path, folderOptions, onLoaded);
  } else {
    result.problems.push(hostError(`'${printable(target)}' is neither a folder nor a .json/.yaml host file`));
  }
  dropDuplicates(result);
  return result;
}

async function anyHasManifest(folders: readonly string[]): Promise<boolean> {
  for (const folder of folders) if (await findManifest(folder).catch(() => null)) return true;
  return false;
}

async function hasDefaultEntry(dir: string): Promise<boolean> {
  for (const entry of DEFAULT_ENTRIES) {
    if (await stat(join(dir, entry)).then((info) => info.isFile(), () => false)) return true;
  }
  return false;
}

async function childFolders(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const folders: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    // A symlinked plugin folder counts as a folder (its entry is still checked on the real path),
    // and so does a link that cannot be followed (its target gone, a loop): a plugin whose link
    // broke is reported, not silently left out.
    const target = entry.isSymbolicLink() ? await stat(path).catch(() => null) : null;
    const isFolder = entry.isDirectory() || (entry.isSymbolicLink() && (target === null || target.isDirectory()));
    if (isFolder) folders.push(path);
  }
  return folders.sort();
}

async function addFolder(result: LoadedHost, folder: string, options: FolderOptions): Promise<void> {
  // A second plugin of a name is dropped as a duplicate later: its module is not imported.
  const taken = new Set(result.definitions.map((d) => (d.manifest as { name?: unknown } | undefined)?.name));
  const importIf = (manifest: { name: string }) => !taken.has(manifest.name);
  result.definitions.push(await loadPluginFolder(folder, { ...options, importIf }));
  result.folders.push(folder);
}

async function loadHostFile(result: LoadedHost, file: string, options: FolderOptions, onLoaded?: LoadOptions['onLoaded']): Promise<void> {
  result.hostFile = file;
  const shown = display(file, options.displayRoot);
  let text: string;
  try {
    text = await readTextFile(file);
  } catch (error) {
    result.problems.push(hostError(`host file ${shown} cannot be read: ${describeThrown(error)}; give a regular .json or .yaml file`, error));
    return;
  }
  let raw: unknown;
  try {
    raw = extname(file).toLowerCase() === '.json' ? parseJson(text) : parseYaml(text);
  } catch (error) {
    result.problems.push(hostError(`host file ${shown} cannot be read: ${syntaxErrorSummary(error, text)}; fix its syntax`));
    return;
  }
  // A file of nothing but comments (or nothing) reads as null.
  if (raw === null || raw === undefined) {
    result.problems.push(hostError(`host file ${shown} is empty; it needs at least a "plugins" list`));
    return;
  }
  const parsed = HostFile.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues.flatMap((issue) => leafIssues(issue, raw))) {
      const field = issue.path.map(String).join('.') || '(root)';
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(HostFile, issue.path);
        const keys = unknownKeyList(issue.keys, known, (key) => `'${printable(key)}'`);
        const where = issue.path.length === 0 ? 'has' : `field '${field}' has`;
        result.problems.push(hostError(`host file ${shown}: ${where} unknown key${issue.keys.length === 1 ? '' : 's'} ${keys}; the keys there are ${known.join(', ')}`));
        continue;
      }
      result.problems.push(hostError(`host file ${shown}: field '${field}' ${issue.message}; fix it`));
    }
    return;
  }
  const host = parsed.data;
  if (host.hookTimeoutMs !== undefined) result.settings.hookTimeoutMs = host.hookTimeoutMs;
  if (host.failurePolicy !== undefined) result.settings.failurePolicy = host.failurePolicy;
  if (host.retry !== undefined) {
    result.settings.retry = definedOnly(host.retry);
  }
  // Paths are the file's own, as `require` takes them: a host file reached through a symbolic
  // link resolves them from the folder it really is in.
  const base = dirname(await realpath(file).catch(() => file));
  if (host.dataDir !== undefined) {
    const dataDir = resolve(base, host.dataDir);
    // Said here, as a problem of the host file, rather than thrown later by createPluginManager.
    const blocked = fileInTheWay(dataDir);
    if (blocked === null) result.settings.dataDir = dataDir;
    else result.problems.push(hostError(`host file ${shown}: dataDir: ${display(blocked, options.displayRoot)} is not a folder, so no store can be written under it; give a folder path`));
  }
  if (host.health !== undefined) {
    result.settings.health = definedOnly(host.health);
  }
  for (const [index, entry] of host.plugins.entries()) {
    const folder = await entryFolder(result, entry, base, shown, index, options.displayRoot);
    if (folder !== null) {
      const config = typeof entry === 'string' ? undefined : (rawConfig(raw, index) ?? entry.config);
      await addFolder(result, folder, { ...options, config, configSource: file, hookTimeoutMs: host.hookTimeoutMs });
    }
    onLoaded?.(index + 1, host.plugins.length);
  }
}

/**
 * What is wrong at the leaves. A plugin entry is a path or an object: for a malformed object,
 * zod says only "Invalid input" at the entry; the object branch's own issues name the field
 * (`plugins.0.config`, `plugins.0.enabled`).
 */
function leafIssues(issue: z.core.$ZodIssue, raw: unknown): z.core.$ZodIssue[] {
  if (issue.code !== 'invalid_union') return [issue];
  let value: unknown = raw;
  for (const key of issue.path) value = typeof value === 'object' && value !== null ? (value as Record<PropertyKey, unknown>)[key] : undefined;
  // The branch for what was written: the object one for an object (a string for anything else).
  const branch = issue.errors.find((errors) => errors.every((inner) => inner.path.length > 0 || inner.code !== 'invalid_type'));
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !branch || branch.length === 0) return [issue];
  return branch.flatMap((inner) => leafIssues({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue, raw));
}

/**
 * The config of entry `index` as the file wrote it. zod's record drops an own `__proto__` key
 * silently; the raw object keeps it, so the config check refuses it (CONFIG_INVALID) exactly as
 * it refuses one passed in memory.
 */
function rawConfig(raw: unknown, index: number): Record<string, unknown> | undefined {
  const entry = (raw as { plugins?: unknown[] }).plugins?.[index];
  const config = typeof entry === 'object' && entry !== null ? (entry as { config?: unknown }).config : undefined;
  return typeof config === 'object' && config !== null && !Array.isArray(config) ? (config as Record<string, unknown>) : undefined;
}

/** The plugin folder of one host-file entry, or null when it is disabled or broken. */
async function entryFolder(
  result: LoadedHost,
  entry: HostPluginEntry,
  base: string,
  file: string,
  index: number,
  displayRoot: string | undefined,
): Promise<string | null> {
  // A path may name the manifest file itself, as a CLI target may: its folder is the plugin, and
  // the file must be there (the folder's other manifest is not taken in its place).
  const folderOf = async (target: string, named: string, by = `host file ${file}: plugins.${index}`): Promise<string | null> => {
    if (!(MANIFEST_FILES as readonly string[]).includes(basename(target))) return target;
    if (await stat(target).then((info) => info.isFile(), () => false)) return dirname(target);
    result.problems.push(
      new PluginFactoryError('MANIFEST_NOT_FOUND', `${by} names the manifest ${quote(named)}, which is not a file there; fix the path`, {
        path: `plugins.${index}`,
      }),
    );
    return null;
  };
  if (typeof entry === 'string') return folderOf(resolve(base, entry), entry);
  // Checked on a disabled entry too: turning it back on is no time to learn it was malformed.
  if ((entry.path === undefined) === (entry.package === undefined)) {
    result.problems.push(hostError(`host file ${file}: plugins.${index} needs exactly one of "path" or "package"`));
    return null;
  }
  const badName = entry.package === undefined ? null : packageNameProblem(entry.package);
  if (badName !== null) {
    result.problems.push(hostError(`host file ${file}: plugins.${index}.package ${quote(entry.package)} ${badName}`));
    return null;
  }
  if (entry.enabled === false) return null;
  if (entry.path !== undefined) return folderOf(resolve(base, entry.path), entry.path);
  const name = entry.package!;
  let pkgJson: string;
  try {
    pkgJson = await findPackageJson(name, base, displayRoot);
  } catch (error) {
    result.problems.push(
      new PluginFactoryError('MANIFEST_NOT_FOUND', `package '${name}' cannot be found from ${file}: ${describeThrown(error)}; install it`, {
        path: `plugins.${index}`,
        cause: error,
      }),
    );
    return null;
  }
  let text: string | undefined;
  try {
    text = await readTextFile(pkgJson);
    const pkg = parseJson(text) as { pluginFactory?: unknown } | null;
    const field = typeof pkg === 'object' && pkg !== null ? pkg.pluginFactory : undefined;
    if (typeof field !== 'string') {
      const why =
        field === undefined
          ? 'has no "pluginFactory" field naming its manifest; add one to its package.json'
          : `has a "pluginFactory" field that is not a path (${quote(field)}); make it the path of its manifest or plugin folder`;
      result.problems.push(new PluginFactoryError('MANIFEST_NOT_FOUND', `package '${name}' ${why}`, { path: `plugins.${index}` }));
      return null;
    }
    // The package is the boundary, as a plugin folder is for `main`: it may not name another
    // folder's plugin (symlinks followed).
    const root = dirname(pkgJson);
    const outside = () => {
      result.problems.push(
        new PluginFactoryError(
          'ENTRY_OUTSIDE_PLUGIN',
          `package '${name}': "pluginFactory" points outside the package (${JSON.stringify(field)}); name a manifest or folder inside it`,
          { path: `plugins.${index}` },
        ),
      );
      return null;
    };
    // Outside by its path is outside, whether what it names is there or not.
    if (!isInside(resolve(root, field), root)) return outside();
    const folder = await folderOf(resolve(root, field), field, `package '${name}': "pluginFactory"`);
    if (folder === null) return null;
    const realFolder = await realpath(folder).catch(() => null);
    // One that does not exist is reported as missing, once loaded; only its path is checked here.
    if (realFolder === null ? !isInside(folder, root) : !isInside(realFolder, await realpath(root))) return outside();
    return folder;
  } catch (error) {
    // Installed, but its package.json cannot be read: no reinstall advice for a broken file.
    result.problems.push(
      new PluginFactoryError('MANIFEST_INVALID', `package '${name}': its package.json cannot be read: ${syntaxErrorSummary(error, text)}; fix it`, {
        path: `plugins.${index}`,
        cause: error,
      }),
    );
    return null;
  }
}

/**
 * What makes `name` no package name `require` would look up in node_modules, or null: a path
 * (`./x`, `/x`, `x/../y`), a version (`x@1`), characters npm never puts in a name. A scope and a
 * folder inside the package (`@scope/name/sub`) are fine.
 */
function packageNameProblem(name: string): string | null {
  if (name.startsWith('.') || name.startsWith('/') || name.startsWith('\\') || /^[A-Za-z]:/.test(name)) {
    return 'is a path, not a package name; give it as "path"';
  }
  const parts = name.split('/');
  const packagePart = name.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1);
  if (name.startsWith('@') && (parts.length < 2 || parts[0] === '@' || name.startsWith('@@'))) return 'is no scoped name (@scope/name)';
  if (parts.some((part) => part === '' || part === '.' || part === '..')) return 'has an empty, "." or ".." part; name an installed package';
  if (packagePart.join('/').slice(1).includes('@')) return 'has a version; give the name alone and install the version you want';
  if (!/^[a-z0-9@._~/-]+$/i.test(name)) return 'has characters no package name has';
  return null;
}

/**
 * The package.json of an installed package, found the way Node looks for packages but without
 * resolving through its "exports" map (which need not export package.json).
 */
async function findPackageJson(name: string, base: string, displayRoot: string | undefined): Promise<string> {
  const require = createRequire(join(base, 'host.js'));
  for (const dir of require.resolve.paths(name) ?? []) {
    const candidate = join(dir, name, 'package.json');
    if (await stat(candidate).then((s) => s.isFile(), () => false)) return candidate;
  }
  throw new Error(`no node_modules/${name}/package.json above ${display(base, displayRoot)}`);
}

/** The name a plugin's manifest declares, if it declares one. */
function declaredName(definition: PluginDefinition): string | undefined {
  const name = (definition.manifest as { name?: unknown } | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * Names must be unique in a manager. Of plugins declaring the same name the first wins; the
 * later ones are reported (DUPLICATE_PLUGIN) and dropped. A plugin that declares no usable name
 * (it is invalid anyway) shows under its folder name, made unique if that is taken, so it never
 * displaces a plugin that does declare the name.
 */
function dropDuplicates(result: LoadedHost): void {
  const seen = new Map<string, string>();
  const keep = new Set<number>();
  result.definitions.forEach((definition, index) => {
    const name = declaredName(definition);
    if (name === undefined) return;
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, definition.source ?? name);
      keep.add(index);
      return;
    }
    result.problems.push(
      new PluginFactoryError(
        'DUPLICATE_PLUGIN',
        `plugin '${name}' is defined twice (${first} and ${definition.source ?? '?'}); rename or remove one`,
        { plugin: name, plugins: [name] },
      ),
    );
  });
  result.definitions.forEach((definition, index) => {
    if (declaredName(definition) !== undefined) return;
    keep.add(index);
    if (definition.name === undefined) return;
    let name = definition.name;
    for (let n = 2; seen.has(name); n++) name = `${definition.name}#${n}`;
    definition.name = name;
    seen.set(name, definition.source ?? name);
  });
  const kept = [...keep].sort((a, b) => a - b);
  result.definitions = kept.map((i) => result.definitions[i]!);
  result.folders = kept.map((i) => result.folders[i]!);
}

export { loadPluginFolder } from './plugin-folder.ts';
