/**
 * One plugin folder on disk → one definition: the manifest (json or yaml) read and checked
 * before anything is imported, `main` resolved inside the folder (on the real path, so a symlink
 * out is refused), then the module imported (`.mjs`, `.js`, or `.ts` through tsx).
 */
import { access, lstat, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isAlias, isCollection, isPair, isScalar, parseDocument, visit } from 'yaml';
import type { Document, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import type { PluginDefinition } from '../definition.ts';
import { PluginFactoryError, describeThrown } from '../errors.ts';
import { isOptionsObject, quote, unknownOptions } from '../platform/_utils.ts';
import { MAX_TIMER_MS, Manifest } from '../manifest.ts';
import { NotUtf8Error, readTextFile } from './read-text.ts';
import type { Manifest as ManifestData } from '../manifest.ts';
import { DEFAULT_HOOK_TIMEOUT_MS, ENGINE_VERSION, refusedBeyondSchema } from '../prepare.ts';
import { printable } from '../printable.ts';
import semver from 'semver';

export const MANIFEST_FILES = ['plugin.json', 'plugin.yaml', 'plugin.yml'] as const;
export const DEFAULT_ENTRIES = ['index.mjs', 'index.js', 'index.ts'];

export interface FolderOptions {
  /** Asked before importing: false leaves the module unimported (e.g. a duplicate name). */
  importIf?: ((manifest: ManifestData) => boolean) | undefined;
  /** Config values for the plugin (from a host file). */
  config?: Record<string, unknown> | undefined;
  /** The file `config` came from (the host file), named in config error hints. */
  configSource?: string | undefined;
  /** Base for the paths shown in messages (default: the working directory). */
  displayRoot?: string | undefined;
  /** Import the module (default true); `false` checks manifest and entry only. */
  importModule?: boolean | undefined;
  /** Import a fresh copy of the module (hot reload). */
  fresh?: boolean | undefined;
  /** The host's hook time limit, for a manifest that sets none (bounds the import). */
  hookTimeoutMs?: number | undefined;
  /** Aborted: stop waiting for the import (the result is MODULE_LOAD_FAILED), say at shutdown. */
  signal?: AbortSignal | undefined;
}

const FOLDER_OPTIONS: ReadonlySet<string> = new Set<keyof FolderOptions>(['importIf', 'config', 'configSource', 'displayRoot', 'importModule', 'fresh', 'hookTimeoutMs', 'signal']);

/** Finds the manifest file of a folder, if any. */
export async function findManifest(dir: string): Promise<string | null> {
  return (await findManifests(dir))[0] ?? null;
}

/** Every manifest file in `dir`, in the order of MANIFEST_FILES. */
async function findManifests(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const file of MANIFEST_FILES) {
    const path = join(dir, file);
    try {
      await access(path);
      found.push(path);
    } catch (error) {
      // Only "not there" means missing (ENOTDIR: the folder is a file); anything else
      // (permissions …) is reported when this one is read, the others left unlooked at.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') return [path];
    }
  }
  return found;
}

/** Why `folder` is no folder to look in (a symbolic link leading nowhere, a file …), or null when it is one. */
async function unreachableFolder(folder: string): Promise<string | null> {
  try {
    return (await stat(folder)).isDirectory() ? null : 'is not a folder';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'cannot be reached (a loop of symbolic links)';
    const link = await lstat(folder).then((info) => info.isSymbolicLink(), () => false);
    if (link) return 'is a symbolic link whose target does not exist';
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be reached (${code ?? describeThrown(error)})`;
  }
}

/** A path as messages show it: relative when inside `root`, and with control characters escaped. */
export function display(path: string, root: string | undefined): string {
  const shown = relative(root ?? process.cwd(), path);
  if (shown === '') return '.';
  return printable((!shown.startsWith('..') && !isAbsolute(shown) ? shown : path).split(sep).join('/'));
}

/** Parses manifest text; rejects with MANIFEST_INVALID naming the file when it is not json/yaml. */
export function parseManifestText(text: string, file: string, shown: string, name: string): unknown {
  try {
    return file.endsWith('.json') ? parseJson(text) : parseYaml(text);
  } catch (error) {
    const reason = syntaxErrorSummary(error, text);
    throw new PluginFactoryError(
      'MANIFEST_INVALID',
      `plugin '${name}': ${shown} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${reason}; fix its syntax`,
      { plugin: name, cause: reason },
    );
  }
}

/** A YAML (or JSON) syntax problem, said by its kind and place only: a parser's own message quotes the text. */
class YamlSyntaxError extends Error {}

/** What each of the yaml package's error codes means, in words that quote nothing. */
const YAML_PROBLEMS: Partial<Record<string, string>> = {
  ALIAS_PROPS: 'an alias (*name) with an anchor or tag',
  BAD_ALIAS: 'an alias (*name) that names no anchor (&name) before it',
  BAD_DIRECTIVE: 'a bad directive (a line starting with %)',
  BAD_DQ_ESCAPE: 'a bad escape in a double-quoted string',
  BAD_INDENT: 'bad indentation',
  BAD_PROP_ORDER: 'an anchor or tag in the wrong place',
  BAD_SCALAR_START: 'a value starting with a reserved character (` or @); quote it',
  BLOCK_AS_IMPLICIT_KEY: 'a block used as a key',
  BLOCK_IN_FLOW: 'a block inside a flow collection ({…} or […])',
  DUPLICATE_KEY: 'a key given twice',
  KEY_OVER_1024_CHARS: 'a key longer than 1024 characters',
  MISSING_CHAR: 'a missing character (a closing quote or bracket)',
  MULTILINE_IMPLICIT_KEY: 'a key spanning lines',
  MULTIPLE_ANCHORS: 'two anchors on one value',
  MULTIPLE_DOCS: 'more than one document (a second ---)',
  MULTIPLE_TAGS: 'two tags on one value',
  NON_STRING_KEY: 'a key that is not a plain value (a map or a list used as a key)',
  RESOURCE_EXHAUSTION: 'too many aliases, aliases that expand too far, or nesting too deep',
  TAB_AS_INDENT: 'a tab used for indentation',
  TAG_RESOLVE_FAILED: 'an unknown tag (!name); quote a value that starts with !',
  UNEXPECTED_TOKEN: 'an unexpected character (quote a value that starts with * & ! | > [ { or holds ": ")',
  BAD_COLLECTION_TYPE: 'a collection of the wrong kind for its tag',
};

/** Line and column of `offset` in `text`. */
function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, Math.max(0, offset)).split('\n');
  return `line ${before.length}, column ${before.at(-1)!.length + 1}`;
}

/**
 * Parses JSON text, refusing a key given twice in one object as YAML does: `JSON.parse` keeps the
 * last one silently, so `"dependencies"` written twice would drop the first unseen.
 */
export function parseJson(text: string): unknown {
  const value: unknown = JSON.parse(text);
  const twice = duplicateKeyAt(text);
  if (twice !== null) throw new YamlSyntaxError(`${lineAndColumn(text, twice)}: ${YAML_PROBLEMS['DUPLICATE_KEY']}`);
  return value;
}

/**
 * Where the first key given twice in one object starts in `text` (valid JSON), or null. One pass:
 * a stack of the keys seen in each open object (null for an array).
 */
function duplicateKeyAt(text: string): number | null {
  const open: Array<Set<string> | null> = [];
  // Whether the next string in the innermost object is a key (after '{' or ',').
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const start = i;
      for (i++; text[i] !== '"'; i++) if (text[i] === '\\') i++;
      const keys = open.at(-1);
      if (expectKey && keys) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (keys.has(key)) return start;
        keys.add(key);
      }
      expectKey = false;
    } else if (c === '{') {
      open.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      open.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      open.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = open.at(-1) != null;
    }
  }
  return null;
}

/**
 * Parses YAML text without printing anything: the yaml package writes its warnings to the
 * process (through `process.emitWarning`) with an excerpt of the line, which may hold a secret;
 * at log level 'error' it prints none and still reports a second document (`---`), which
 * 'silent' would drop unseen. A warning (an unknown tag such as `!secret`, which would otherwise
 * leave the value a plain string) is an error here, as any typo in a manifest is. What it throws
 * says the kind of problem and where, never the parser's message (which quotes the text, and a
 * secret written unquoted with it: `password: *hunter2` is an alias to the parser).
 */
export function parseYaml(text: string): unknown {
  // resolveKnownTags off: a tag beyond JSON's data (`!!binary`, `!!timestamp`, `!!set`) is an
  // unknown tag too, not a Buffer, Date or Set that no field takes.
  // The YAML 1.2 core schema whatever a `%YAML 1.1` directive asks: 1.1's merge keys (`<<`) would
  // hide a key given twice, and its `yes`/`no` would be booleans.
  // uniqueKeys off: the package compares each key with every other of its map (a flat map of
  // 20,000 keys took seconds); keys given twice are found below, with a Set.
  const doc = parseDocument(text, { logLevel: 'error', resolveKnownTags: false, schema: 'core', merge: false, uniqueKeys: false });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const what = YAML_PROBLEMS[problem.code] ?? problem.code.toLowerCase().replace(/_/g, ' ');
    throw new YamlSyntaxError(`${lineAndColumn(text, problem.pos[0])}: ${what}`);
  }
  // An alias to no anchor passes the parse and fails the conversion, quoting the alias's name.
  // Each alias is matched to the last anchor of its name before it, in one pass (the yaml
  // package's own lookup walks the document again for every alias).
  const anchors = new Map<string, unknown>();
  const targets = new Map<unknown, unknown>();
  let unresolved: number | null = null;
  visit(doc, (_key, node) => {
    if (isAlias(node)) {
      const target = anchors.get(node.source);
      if (target === undefined) {
        unresolved = node.range?.[0] ?? 0;
        return visit.BREAK;
      }
      targets.set(node, target);
    } else if ((isScalar(node) || isCollection(node)) && node.anchor) {
      anchors.set(node.anchor, node);
    }
    return undefined;
  });
  if (unresolved !== null) throw new YamlSyntaxError(`${lineAndColumn(text, unresolved)}: ${YAML_PROBLEMS['BAD_ALIAS']}`);
  try {
    if (targets.size > 0) {
      if (aliasGrowth(doc, targets) > MAX_ALIAS_GROWTH) throw new Error('aliases expand too far');
      expandAliases(doc, targets);
    }
  } catch {
    throw new YamlSyntaxError(YAML_PROBLEMS['RESOURCE_EXHAUSTION']!);
  }
  const bad = badKey(doc);
  if (bad !== null) throw new YamlSyntaxError(`${lineAndColumn(text, bad.at)}: ${YAML_PROBLEMS[bad.problem]}`);
  try {
    return doc.toJS();
  } catch {
    throw new YamlSyntaxError(YAML_PROBLEMS['RESOURCE_EXHAUSTION']!);
  }
}

/**
 * The first key of a map that no object could hold as written, or null: one given twice (keys are
 * compared as the object built from the map holds them, `1` and `'1'` being one key there;
 * aliases already copied in), or a map or list used as a key (which would become its YAML text).
 */
function badKey(doc: Document): { at: number; problem: 'DUPLICATE_KEY' | 'NON_STRING_KEY' } | null {
  let found: { at: number; problem: 'DUPLICATE_KEY' | 'NON_STRING_KEY' } | null = null;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = pair.key;
        if (key === null || key === undefined) continue;
        if (!isScalar(key)) {
          found = { at: (key as { range?: [number, number, number] }).range?.[0] ?? 0, problem: 'NON_STRING_KEY' };
          return visit.BREAK;
        }
        const text = key.value === null ? '' : String(key.value);
        if (seen.has(text)) {
          found = { at: key.range?.[0] ?? 0, problem: 'DUPLICATE_KEY' };
          return visit.BREAK;
        }
        seen.add(text);
      }
      return undefined;
    },
  });
  return found;
}

/**
 * Replaces each alias by a copy of what it names, in document order: what it names comes before
 * it, so its own aliases are copies already. The yaml package's own conversion looks each alias
 * up again through every anchor and alias before it (quadratic: 20,000 anchors in a 660 KiB file
 * took most of a minute); the copies are bounded by MAX_ALIAS_GROWTH.
 */
function expandAliases(doc: Document, targets: ReadonlyMap<unknown, unknown>): void {
  visit(doc, {
    Alias(_key, node) {
      const copy = (targets.get(node) as Scalar | YAMLMap | YAMLSeq).clone() as Scalar | YAMLMap | YAMLSeq;
      delete copy.anchor;
      // Where the alias stands: a key given twice through it is reported there.
      if (node.range) copy.range = node.range;
      return copy;
    },
  });
}

/**
 * How many values aliases may add to a document, all in all. The file's size is capped, but each
 * alias copies what it names: 100 aliases to a list of 100,000 values in a 1 MiB file would be
 * ten million values to build and check.
 */
const MAX_ALIAS_GROWTH = 100_000;

/**
 * How many values the document's aliases add once expanded (each alias counted as what it names,
 * `targets`). Throws on an alias inside what it names.
 */
function aliasGrowth(doc: Document, targets: ReadonlyMap<unknown, unknown>): number {
  const expanded = new Map<unknown, number>();
  const size = (node: unknown, resolve: boolean): number => {
    if (node === null || node === undefined) return 0;
    if (isScalar(node)) return 1;
    if (isAlias(node)) return resolve ? size(targets.get(node), true) : 1;
    if (isPair(node)) return size(node.key, resolve) + size(node.value, resolve);
    if (!isCollection(node)) return 1;
    const known = resolve ? expanded.get(node) : undefined;
    if (known !== undefined) {
      if (known < 0) throw new Error('an alias inside what it names');
      return known;
    }
    if (resolve) expanded.set(node, -1);
    let total = 1;
    for (const item of node.items) total += size(item, resolve);
    if (resolve) expanded.set(node, total);
    return total;
  };
  return size(doc.contents, true) - size(doc.contents, false);
}

/**
 * What went wrong in a JSON or YAML text, without quoting the text: parsers put an excerpt of
 * the source in their messages, and that excerpt may hold a secret config value. JSON errors
 * say where instead (line and column, when `text` is given); YAML's come from `parseYaml`
 * already saying what and where, and quoting nothing.
 */
export function syntaxErrorSummary(error: unknown, text?: string): string {
  if (error instanceof YamlSyntaxError) return error.message;
  const message = describeThrown(error);
  const first = message.split('\n')[0] ?? '';
  // With the text, its fault is found by reading it again: V8's messages give a position for
  // some errors only, and quote the text around it for others (a secret, perhaps), which is not
  // repeated.
  const at = text === undefined ? -1 : jsonErrorAt(text);
  if (at >= 0) return `${at === text!.length ? 'Unexpected end of the text' : 'Unexpected character'} at ${lineAndColumn(text!, at)}`;
  // Without it: "… in JSON at position N", "… after JSON at position N" as V8 says it.
  const atPosition = /^(.*?) at position (\d+)/.exec(first);
  if (atPosition && text === undefined) return `${atPosition[1]} at position ${atPosition[2]}`;
  // V8: Unexpected token 'x', ..."<10 characters each side>"... is not valid JSON.
  if (/^Unexpected token .*?, (\.\.\.)?"(.*)"(?:\.\.\.)? is not valid JSON$/s.test(message)) return 'Unexpected character';
  if (/ is not valid JSON$/.test(message)) return 'Not valid JSON';
  return first
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(/:\s*$/, '');
}

const JSON_SPACE = new Set([' ', '\t', '\n', '\r']);
const JSON_NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const JSON_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

/**
 * Where the first character that makes `text` no JSON is (its length when the text ends too
 * soon), or -1 when it is JSON. A loop with a stack of the open brackets, so any depth is read.
 */
export function jsonErrorAt(text: string): number {
  const open: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && JSON_SPACE.has(text[i]!)) i++;
  };
  /** Reads the string starting at i; false with i at the fault. */
  const readString = (): boolean => {
    for (i++; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return true;
      }
      if (c < ' ') return false;
      if (c !== '\\') continue;
      const escaped = text[i + 1];
      if (escaped === 'u') {
        for (let k = 2; k < 6; k++) {
          if (!/[0-9a-fA-F]/.test(text[i + k] ?? '')) {
            i += k;
            return false;
          }
        }
        i += 5;
      } else if (escaped !== undefined && JSON_ESCAPES.has(escaped)) {
        i++;
      } else {
        i++;
        return false;
      }
    }
    return false;
  };
  /** Reads one value, or opens a container (its contents are read by the loop); false at a fault. */
  const readValue = (): boolean => {
    const c = text[i];
    if (c === '{' || c === '[') {
      open.push(c);
      i++;
      return true;
    }
    if (c === '"') return readString();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    JSON_NUMBER.lastIndex = i;
    const number = JSON_NUMBER.exec(text);
    if (number === null) return false;
    i += number[0].length;
    return true;
  };
  // What comes next: a value, a key (in an object), or what follows a value.
  let expect: 'value' | 'key' | 'after' = 'value';
  // Right after an opening bracket, where its closing one may come at once.
  let fresh = false;
  for (;;) {
    skipSpace();
    if (expect !== 'after' && fresh && text[i] === (open.at(-1) === '{' ? '}' : ']')) {
      open.pop();
      i++;
      fresh = false;
      expect = 'after';
      continue;
    }
    if (expect === 'key') {
      if (text[i] !== '"' || !readString()) return i;
      skipSpace();
      if (text[i] !== ':') return i;
      i++;
      expect = 'value';
      fresh = false;
      continue;
    }
    if (expect === 'value') {
      const depth = open.length;
      if (!readValue()) return i;
      fresh = open.length > depth;
      expect = fresh ? (open.at(-1) === '{' ? 'key' : 'value') : 'after';
      continue;
    }
    // After a value: the end of the text, a comma, or the closing bracket.
    const inside = open.at(-1);
    if (inside === undefined) return i < text.length ? i : -1;
    if (text[i] === ',') {
      i++;
      expect = inside === '{' ? 'key' : 'value';
    } else if (text[i] === (inside === '{' ? '}' : ']')) {
      open.pop();
      i++;
    } else {
      return i;
    }
  }
}

let generation = 0;

/**
 * The options read once each (a getter is not read again later) and checked: what is wrong with
 * them, or a copy to use.
 */
function readFolderOptions(given: unknown): FolderOptions | string {
  if (!isOptionsObject(given)) return `the options must be an object, not ${quote(given)}`;
  try {
    // A misspelt option (`importModules`, loadHost's spelling) would otherwise be ignored unseen.
    const unknown = unknownOptions(given, FOLDER_OPTIONS);
    if (unknown) return unknown;
    const options = { ...(given as FolderOptions) };
    // `config` is the definition's: checked against the manifest as any definition's is (CONFIG_INVALID).
    const { importIf, configSource, displayRoot, importModule, fresh, hookTimeoutMs, signal } = options;
    if (importIf !== undefined && typeof importIf !== 'function') return 'importIf must be a function of the manifest';
    if (configSource !== undefined && typeof configSource !== 'string') return 'configSource must be a path';
    if (displayRoot !== undefined && typeof displayRoot !== 'string') return 'displayRoot must be a path';
    if (importModule !== undefined && typeof importModule !== 'boolean') return 'importModule must be true or false';
    if (fresh !== undefined && typeof fresh !== 'boolean') return 'fresh must be true or false';
    if (hookTimeoutMs !== undefined && !(Number.isInteger(hookTimeoutMs) && hookTimeoutMs >= 1 && hookTimeoutMs <= MAX_TIMER_MS)) {
      return `hookTimeoutMs must be a whole number of ms from 1 to ${MAX_TIMER_MS}, not ${quote(hookTimeoutMs)}`;
    }
    // Any signal-like object (a polyfill, one from another realm): only these are used.
    if (signal !== undefined && !(typeof signal === 'object' && signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function' && typeof signal.removeEventListener === 'function')) {
      return 'signal must be an AbortSignal';
    }
    return options;
  } catch {
    // What was thrown is not quoted: a getter's message may hold anything.
    return 'the options cannot be read (a getter or a Proxy trap threw)';
  }
}

/** Loads one plugin folder. Never throws: every problem is in `problems`. */
export async function loadPluginFolder(dir: string, given: FolderOptions = {}): Promise<PluginDefinition> {
  if (typeof dir !== 'string' || dir.trim() === '') {
    const what = typeof dir === 'string' ? 'an empty path' : quote(dir);
    return { manifest: undefined as never, module: undefined, problems: [new PluginFactoryError('ARGUMENT_INVALID', `loadPluginFolder: give the path of a plugin folder, not ${what}`)] };
  }
  const options = readFolderOptions(given);
  if (typeof options === 'string') return { manifest: undefined as never, module: undefined, problems: [new PluginFactoryError('ARGUMENT_INVALID', `loadPluginFolder: ${options}`)] };
  const folder = resolve(dir);
  const folderName = basename(folder);
  // A folder name may hold anything, a terminal escape included: shown escaped. One that is no
  // plugin name (`Upper Case`) still names the plugin while its manifest gives none.
  const name = printable(folderName);
  const base: PluginDefinition = { manifest: undefined as never, module: undefined, name };
  if (options.config !== undefined) base.config = options.config;
  // Listed in a host file: config is given there, so that is where a missing or bad value is fixed.
  if (options.configSource !== undefined) base.configSource = display(options.configSource, options.displayRoot);
  const fail = (error: PluginFactoryError, extra: Partial<PluginDefinition> = {}): PluginDefinition => ({
    ...base,
    ...extra,
    problems: [error],
  });

  const unreachable = await unreachableFolder(folder);
  if (unreachable) {
    const shown = display(folder, options.displayRoot);
    return fail(new PluginFactoryError('MANIFEST_NOT_FOUND', `plugin '${name}': ${shown} ${unreachable}; fix or remove it`, { plugin: name, path: shown }));
  }
  const manifests = await findManifests(folder);
  const manifestPath = manifests[0] ?? null;
  if (!manifestPath) {
    const shown = display(folder, options.displayRoot);
    return fail(
      new PluginFactoryError(
        'MANIFEST_NOT_FOUND',
        `plugin '${name}': no plugin.json, plugin.yaml or plugin.yml in ${shown}; add a manifest or remove the folder`,
        { plugin: name, path: shown },
      ),
    );
  }
  const source = display(manifestPath, options.displayRoot);
  base.source = source;
  if (manifests.length > 1) {
    // Which one would count is no guess to leave to the loader: one of them is stale.
    const files = manifests.map((path) => basename(path)).join(' and ');
    return fail(
      new PluginFactoryError('MANIFEST_INVALID', `plugin '${name}': ${display(folder, options.displayRoot)} holds ${files}; keep one manifest`, {
        plugin: name,
      }),
    );
  }
  let raw: unknown;
  try {
    raw = parseManifestText(await readTextFile(manifestPath), manifestPath, source, name);
  } catch (error) {
    const coded =
      error instanceof PluginFactoryError
        ? error
        : new PluginFactoryError(error instanceof NotUtf8Error ? 'MANIFEST_INVALID' : 'MANIFEST_NOT_FOUND', `plugin '${name}': cannot read ${source}: ${describeThrown(error)}`, {
            plugin: name,
            cause: error,
          });
    return fail(coded);
  }
  const definition: PluginDefinition = { ...base, manifest: raw as PluginDefinition['manifest'] };
  const parsed = Manifest.safeParse(raw);
  // A bad manifest is reported by the engine's own check; its module is never imported.
  if (!parsed.success || refusedBeyondSchema(raw, parsed.data.name).length > 0) return definition;
  const pluginName = parsed.data.name;
  // A manifest the engine will reject anyway (engine range) never gets its module imported.
  if (parsed.data.engine !== undefined && !semver.satisfies(ENGINE_VERSION, parsed.data.engine)) return definition;
  if (options.importIf && !options.importIf(parsed.data)) return definition;

  const entry = await resolveEntry(folder, parsed.data.main, pluginName, source);
  if (entry instanceof PluginFactoryError) return { ...definition, problems: [entry] };
  if (options.importModule === false) return { ...definition, module: {} };
  try {
    // Bounded like a hook: a top-level await that never settles must not hold the loader.
    const timeoutMs = parsed.data.hookTimeoutMs ?? options.hookTimeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
    const namespace = (await withinMs(
      importEntry(entry, options.fresh === true ? await realpath(folder) : null),
      timeoutMs,
      () => new Error(`it did not finish loading within ${timeoutMs} ms (a top-level await that never settles, or an export named \`then\`?)`),
      options.signal,
    )) as { default?: unknown };
    // A module exporting `then` is a thenable to import(): what comes back is what that function
    // gave, not the module.
    if (typeof namespace !== 'object' || namespace === null) {
      return {
        ...definition,
        problems: [
          new PluginFactoryError(
            'CONTRACT_INVALID',
            `plugin '${pluginName}': importing ${display(entry, options.displayRoot)} gave ${namespace === null || namespace === undefined ? String(namespace) : `a ${typeof namespace}`}, not the module: an export named \`then\` makes a module a promise to import(); rename that export`,
            { plugin: pluginName },
          ),
        ],
      };
    }
    if (!('default' in namespace) || namespace.default === undefined) {
      return {
        ...definition,
        problems: [
          new PluginFactoryError(
            'CONTRACT_INVALID',
            `plugin '${pluginName}': ${display(entry, options.displayRoot)} has no default export; export default { init, start, stop } or a factory`,
            { plugin: pluginName },
          ),
        ],
      };
    }
    return { ...definition, module: compiledDefault(namespace.default) };
  } catch (error) {
    return {
      ...definition,
      problems: [
        new PluginFactoryError(
          'MODULE_LOAD_FAILED',
          `plugin '${pluginName}': importing ${display(entry, options.displayRoot)} failed: ${describeThrown(error)}; fix the module`,
          { plugin: pluginName, cause: error },
        ),
      ],
    };
  }
}

/** Whether `path` is `root` or inside it (both absolute). */
export function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** `main` must exist and stay inside the plugin folder, also after resolving symlinks. */
async function resolveEntry(
  folder: string,
  main: string | undefined,
  name: string,
  source: string,
): Promise<string | PluginFactoryError> {
  const candidates = main === undefined ? DEFAULT_ENTRIES : [main];
  const outside = () =>
    new PluginFactoryError(
      'ENTRY_OUTSIDE_PLUGIN',
      `plugin '${name}': ${main === undefined ? 'its default entry' : `main '${main}'`} resolves outside the plugin folder; keep the entry inside it (${source})`,
      { plugin: name, path: 'main' },
    );
  // The folder moved or was deleted after its manifest was read (a deploy swapping folders).
  const realFolder = await realpath(folder).catch(() => null);
  if (realFolder === null) {
    return new PluginFactoryError('ENTRY_NOT_FOUND', `plugin '${name}': its folder cannot be reached any more (moved or deleted while loading); load it again (${source})`, {
      plugin: name,
      path: 'main',
    });
  }
  for (const candidate of candidates) {
    if (isAbsolute(candidate)) return outside();
    const path = resolve(folder, candidate);
    // The folder itself ('.') is inside: it is no module, which is said below.
    if (!isInside(path, folder)) return outside();
    const real = await realpath(path).catch(() => null);
    if (real === null) continue; // not there
    if (!isInside(real, realFolder)) return outside();
    // Importing a FIFO or a device would block the loader for good: only a regular file is an
    // entry (a default entry that is not one counts as absent).
    if ((await stat(real).catch(() => null))?.isFile() !== true) {
      if (main === undefined) continue;
      return new PluginFactoryError('ENTRY_NOT_FOUND', `plugin '${name}': ${candidate} is not a regular file; point "main" at a module file (${source})`, {
        plugin: name,
        path: 'main',
      });
    }
    return real;
  }
  return new PluginFactoryError(
    'ENTRY_NOT_FOUND',
    main === undefined
      ? `plugin '${name}': no "main" in ${source} and no ${DEFAULT_ENTRIES.join(', ')} in the folder; add one or set "main"`
      : `plugin '${name}': main '${main}' does not exist; fix "main" in ${source} or add the file`,
    { plugin: name, path: 'main' },
  );
}

const commonJsCache = createRequire(import.meta.url).cache;

/**
 * Imports an entry. ESM modules cannot be unloaded: a fresh import (hot reload) loads the module
 * and everything it imports again, in a namespace of its own (tsx), so each reload keeps the
 * previous copy in memory until the process ends. CommonJS files (a `.cjs` entry or helper, `.js`
 * in a CommonJS package) are cached by file name whatever URL reaches them: a fresh import first
 * forgets those inside the plugin's folder (`fresh`: its real path).
 */
async function importEntry(path: string, fresh: string | null): Promise<unknown> {
  const url = pathToFileURL(path);
  if (fresh !== null) {
    url.search = `?reload=${++generation}`;
    // The plugin's own files only: not its node_modules (a package, or a native addon that cannot
    // be loaded twice, is kept as it is).
    for (const file of Object.keys(commonJsCache)) {
      if (file.startsWith(fresh + sep) && !file.includes(`${sep}node_modules${sep}`) && !file.endsWith('.node')) delete commonJsCache[file];
    }
  }
  // The entry itself is the parent: under tsx, `index.js` imported from a TypeScript file (this
  // one) is replaced by a sibling `index.ts` when there is one, and a `.js` entry runs as written.
  if (fresh !== null) {
    // A namespace of its own for each reload (`tsImport`): the module and what it imports load anew.
    const { tsImport } = await import('tsx/esm/api');
    return tsImport(url.href, url.href);
  }
  if (extname(path) === '.ts' || extname(path) === '.mts' || extname(path) === '.cts') {
    // One namespace for every first load: each `tsImport` registers loader hooks of its own, which
    // pile up, so a host of hundreds of TypeScript plugins loaded ever more slowly.
    if (!typescriptImport) {
      // Both of tsx's hooks, in one namespace, as `tsImport` sets them up: a TypeScript file
      // compiled to CommonJS (`.cts`, `.ts` outside an ESM package) requires its siblings.
      typescriptImport = Promise.all([import('tsx/esm/api'), import('tsx/cjs/api')]).then(([esm, cjs]) => {
        cjs.register({ namespace: 'plugin-factory' });
        return esm.register({ namespace: 'plugin-factory' }).import;
      });
      typescriptImport.catch(() => (typescriptImport = undefined)); // tried again by the next import
    }
    return (await typescriptImport)(url.href, url.href);
  }
  javascriptImport ??= ((await import(JAVASCRIPT_IMPORTER)) as { default: (url: string) => Promise<unknown> }).default;
  return javascriptImport(url.href).catch((error: unknown) => {
    const nothing = nothingImported(error);
    if (nothing) return nothing.value;
    throw error;
  });
}

/**
 * Under tsx, the importer's `import()` is followed by an interop step reading `.default` of what it
 * gave, which throws, in the importer, when a module's `then` export gave null or undefined: that
 * value is what the import gave (as it is without tsx), not a failure of the plugin's code.
 */
function nothingImported(error: unknown): { value: null | undefined } | null {
  if (!(error instanceof TypeError) || !String(error.stack).includes(`at ${JAVASCRIPT_IMPORTER}:`)) return null;
  const read = /^Cannot read properties of (null|undefined) \(reading 'default'\)/.exec(error.message);
  return read ? { value: read[1] === 'null' ? null : undefined } : null;
}

/** `import()` from a JavaScript module, for the same reason. */
const JAVASCRIPT_IMPORTER = 'data:text/javascript,export default (url) => import(url)';
let javascriptImport: ((url: string) => Promise<unknown>) | undefined;
let typescriptImport: Promise<(specifier: string, parent: string) => Promise<unknown>> | undefined;

/**
 * The default export as written. A module compiled to CommonJS (a `.ts` file outside an ESM
 * package, a `.cjs` build) reaches `import()` as `{ __esModule: true, default: … }`.
 */
function compiledDefault(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const wrapped = value as { __esModule?: unknown; default?: unknown };
  return wrapped.__esModule === true && Object.hasOwn(wrapped, 'default') && wrapped.default !== undefined ? wrapped.default : value;
}

/**
 * `promise`, or a rejection with `error()` after `ms` (the timer keeps the process alive
 * meanwhile), or as soon as `signal` aborts.
 */
async function withinMs<T>(promise: Promise<T>, ms: number, error: () => Error, signal?: AbortSignal): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(error()), ms);
        onAbort = () => reject(new Error('loading was given up (its signal aborted)'));
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
