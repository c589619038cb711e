/**
 * schema/plugin.schema.json: generated from the zod `Manifest` (src/schema.ts, `npm run schema`),
 * committed, and kept honest: the file matches the generator, the demo manifests pass it, it
 * agrees with zod on random manifests (apart from the semver checks it cannot express), and
 * docs/plugin-contract.md documents every property it has.
 *
 * No JSON Schema validator is installed, so `check` below is a small one covering exactly the
 * keywords the generated schema uses; a test fails if the schema starts using any other.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigFieldSpec, Manifest } from '../../src/index.ts';
import { SCHEMA_PATH, manifestJsonSchema, manifestJsonSchemaText } from '../../src/schema.ts';
import type { JsonSchema } from '../../src/schema.ts';
import { DISK_CODES } from '../helpers/codes.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const schema = manifestJsonSchema();

// ── a tiny JSON Schema check ───────────────────────────────────────────────

const KEYWORDS = new Set([
  '$schema',
  'title',
  'description',
  'type',
  'properties',
  'required',
  'additionalProperties',
  'propertyNames',
  'items',
  'enum',
  'pattern',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'minItems',
  'const',
  'not',
]);

function typeMatches(value: unknown, type: unknown): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    default:
      throw new Error(`tiny check: unsupported type ${String(type)}`);
  }
}

/** Every violation of `schema` by `value`, as `path: problem` lines (empty when valid). */
function check(value: unknown, node: JsonSchema, path = '(root)'): string[] {
  const out: string[] = [];
  for (const key of Object.keys(node)) if (!KEYWORDS.has(key)) throw new Error(`tiny check: unsupported keyword ${key} at ${path}`);
  if (node['type'] !== undefined && !typeMatches(value, node['type'])) return [`${path}: not ${String(node['type'])}`];
  if (Array.isArray(node['enum']) && !node['enum'].includes(value)) out.push(`${path}: not in enum`);
  if (node['const'] !== undefined && value !== node['const']) out.push(`${path}: not the const`);
  if (node['not'] !== undefined && check(value, node['not'] as JsonSchema, path).length === 0) out.push(`${path}: matches what is excluded`);
  if (typeof value === 'string') {
    if (typeof node['pattern'] === 'string' && !new RegExp(node['pattern'], 'u').test(value)) out.push(`${path}: pattern`);
    if (typeof node['minLength'] === 'number' && [...value].length < node['minLength']) out.push(`${path}: too short`);
    if (typeof node['maxLength'] === 'number' && [...value].length > node['maxLength']) out.push(`${path}: too long`);
  }
  if (typeof value === 'number') {
    if (typeof node['minimum'] === 'number' && value < node['minimum']) out.push(`${path}: below minimum`);
    if (typeof node['maximum'] === 'number' && value > node['maximum']) out.push(`${path}: above maximum`);
    if (typeof node['exclusiveMinimum'] === 'number' && value <= node['exclusiveMinimum']) out.push(`${path}: not above exclusiveMinimum`);
  }
  if (Array.isArray(value)) {
    if (typeof node['minItems'] === 'number' && value.length < node['minItems']) out.push(`${path}: too few items`);
    const items = node['items'] as JsonSchema | undefined;
    if (items) value.forEach((item, i) => out.push(...check(item, items, `${path}[${i}]`)));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    const properties = (node['properties'] ?? {}) as Record<string, JsonSchema>;
    for (const key of (node['required'] ?? []) as string[]) {
      if (!Object.hasOwn(record, key)) out.push(`${path}: missing required '${key}'`);
    }
    for (const key of Object.keys(record)) {
      const child = `${path}.${key}`;
      if (node['propertyNames']) out.push(...check(key, node['propertyNames'] as JsonSchema, `${child} (name)`));
      if (Object.hasOwn(properties, key)) out.push(...check(record[key], properties[key]!, child));
      else if (node['additionalProperties'] === false) out.push(`${path}: unknown key '${key}'`);
      else if (typeof node['additionalProperties'] === 'object') {
        out.push(...check(record[key], node['additionalProperties'] as JsonSchema, child));
      }
    }
  }
  return out;
}

// ── the committed file ─────────────────────────────────────────────────────

describe('schema/plugin.schema.json', () => {
  it('is what `npm run schema` generates (run it after changing src/manifest.ts)', () => {
    expect(existsSync(join(ROOT, SCHEMA_PATH))).toBe(true);
    expect(read(SCHEMA_PATH)).toBe(manifestJsonSchemaText());
    expect(read(SCHEMA_PATH).endsWith('}\n')).toBe(true);
    expect(JSON.parse(read(SCHEMA_PATH))).toEqual(schema);
  });

  it('is a draft 2020-12 object schema that forbids unknown top-level keys', () => {
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema['type']).toBe('object');
    expect(schema['additionalProperties']).toBe(false);
    expect(schema['required']).toEqual(['name', 'version']);
    expect(Object.keys(schema['properties'] as object)).toEqual(Object.keys(Manifest.shape));
  });

  it('says in its description what it cannot express (semver, main inside the folder, a config field\'s min ≤ max and enum of its type)', () => {
    const description = String(schema['description']);
    for (const word of ['semver', 'version', 'engine', 'dependencies', 'main', '`min`', '`enum`']) expect(description).toContain(word);
  });

  it('describes every top-level property', () => {
    for (const [key, property] of Object.entries(schema['properties'] as Record<string, JsonSchema>)) {
      expect(typeof property['description'], key).toBe('string');
    }
  });

  it('uses only the keywords the tiny check understands', () => {
    expect(() => check({ name: 'a', version: '1.0.0' }, schema)).not.toThrow();
    const walk = (node: JsonSchema): void => {
      for (const key of Object.keys(node)) expect(KEYWORDS, key).toContain(key);
      const children = [
        ...Object.values((node['properties'] ?? {}) as Record<string, JsonSchema>),
        ...['additionalProperties', 'propertyNames', 'items', 'not'].map((key) => node[key]),
      ];
      for (const child of children) if (typeof child === 'object' && child !== null) walk(child as JsonSchema);
    };
    walk(schema);
  });
});

// ── manifests against it ───────────────────────────────────────────────────

function manifestFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(dir, entry.name, 'plugin.json'))
    .filter((path) => existsSync(join(ROOT, path)));
}

describe('manifests against the schema', () => {
  const demo = manifestFiles('plugins');
  const broken = manifestFiles('plugins/broken');

  it('finds the demo manifests', () => {
    expect(demo.length).toBeGreaterThanOrEqual(5);
    expect(broken.length).toBeGreaterThanOrEqual(10);
  });

  it.each(demo)('%s has the required keys, no unknown top-level key, and passes the schema', (file) => {
    const manifest = JSON.parse(read(file)) as Record<string, unknown>;
    for (const key of schema['required'] as string[]) expect(manifest, key).toHaveProperty(key);
    const known = Object.keys(schema['properties'] as object);
    expect(Object.keys(manifest).filter((key) => !known.includes(key))).toEqual([]);
    expect(check(manifest, schema)).toEqual([]);
    expect(Manifest.safeParse(manifest).success).toBe(true);
  });

  it('the broken demo manifests pass the schema, except the one with a typo that both reject', () => {
    for (const file of broken) {
      const manifest = JSON.parse(read(file)) as unknown;
      const problems = check(manifest, schema);
      if (file.includes('manifest-invalid')) {
        expect(problems).toEqual(["(root): unknown key 'dependecies'"]);
        expect(Manifest.safeParse(manifest).success).toBe(false);
      } else {
        expect([file, problems]).toEqual([file, []]);
      }
    }
  });

  it('a version is semver as written: v1.0.0, =1.0.0 and spaces around are refused, prereleases and build metadata taken', () => {
    const versionOk = (version: string) => Manifest.safeParse({ name: 'a', version }).success;
    for (const version of ['v1.0.0', 'V1.0.0', '=1.0.0', ' 1.0.0', '1.0.0 ', '1.0', '01.0.0']) expect({ version, ok: versionOk(version) }).toEqual({ version, ok: false });
    for (const version of ['1.0.0', '0.0.1', '2.0.0-beta.1', '1.0.0+build.7', '1.0.0-rc.1+sha.5114f85']) expect({ version, ok: versionOk(version) }).toEqual({ version, ok: true });
  });

  it('manifests may carry "$schema"; where fixtures set one, it points at the schema file', () => {
    const withSchema = { $schema: '../../schema/plugin.schema.json', name: 'a', version: '1.0.0' };
    expect(check(withSchema, schema)).toEqual([]);
    expect(Manifest.safeParse(withSchema).success).toBe(true);
    const files = [
      'tests/fixtures/loading/healthy/beta/plugin.json',
      'tests/fixtures/loading/healthy/typed/plugin.json',
      ...manifestFiles('plugins/broken'),
    ];
    for (const file of files) {
      const manifest = JSON.parse(read(file)) as { $schema?: string };
      expect(typeof manifest.$schema).toBe('string');
      expect(resolve(dirname(join(ROOT, file)), manifest.$schema!)).toBe(join(ROOT, SCHEMA_PATH));
      // (manifest-invalid breaks the schema on purpose; the test above covers it.)
      if (!file.includes('manifest-invalid')) expect([file, check(manifest, schema)]).toEqual([file, []]);
    }
  });

  it('a timer field past the safe integers is refused for the timer limit first, the one its message names', () => {
    const parsed = Manifest.safeParse({ name: 'a', version: '1.0.0', hookTimeoutMs: 2 ** 53 + 2, health: { intervalMs: 2 ** 53 + 2 } });
    expect(parsed.success).toBe(false);
    const first = (field: string) => parsed.error!.issues.find((issue) => issue.path.join('.') === field) as { maximum?: unknown } | undefined;
    expect(first('hookTimeoutMs')?.maximum).toBe(2_147_483_647);
    expect(first('health.intervalMs')?.maximum).toBe(2_147_483_647);
  });

  it('rejects what a typo or a wrong type would be', () => {
    expect(check({ name: 'a' }, schema)).toEqual(["(root): missing required 'version'"]);
    expect(check({ name: 'a', version: '1.0.0', dependecies: {} }, schema)).toEqual(["(root): unknown key 'dependecies'"]);
    expect(check({ name: 'A', version: '1.0.0' }, schema)).toEqual(['(root).name: pattern']);
    expect(check({ name: 'a', version: '1.0.0', hookTimeoutMs: 0 }, schema)).toEqual(['(root).hookTimeoutMs: not above exclusiveMinimum']);
    expect(check({ name: 'a', version: '1.0.0', config: { x: { type: 'int' } } }, schema)).toEqual(['(root).config.x.type: not in enum']);
    expect(check({ name: 'a', version: '1.0.0', retry: { retries: 1.5 } }, schema)).toEqual(['(root).retry.retries: not integer']);
    // What the engine refuses beyond the zod schema, where JSON Schema can say it.
    expect(check({ name: 'host', version: '1.0.0' }, schema)).toEqual(['(root).name: matches what is excluded']);
    for (const field of ['__proto__', 'constructor', 'prototype']) {
      const manifest = JSON.parse(`{"name":"a","version":"1.0.0","config":{"${field}":{"type":"string"}}}`) as unknown;
      expect(check(manifest, schema)).toEqual([`(root).config.${field} (name): matches what is excluded`]);
    }
    expect(check(JSON.parse('{"name":"a","version":"1.0.0","dependencies":{"__proto__":"^1.0.0"}}'), schema)).toEqual(['(root).dependencies.__proto__ (name): pattern']);
  });

  it('agrees with zod on random valid manifests and on single mutations of them (semver aside)', () => {
    const anything = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant([]),
      fc.constant({}),
      fc.constant(''),
      fc.constant(-1),
      fc.constant(1.5),
    );
    const name = fc.constantFrom('db', 'a-1', 'cache', 'constructor', 'x0');
    // Valid semver only: the JSON Schema cannot tell '1.0' from '1.0.0', zod can.
    const range = fc.constantFrom('^1.0.0', '*', '>=0.1.0', '1.x');
    const spec = fc.record(
      {
        type: fc.constantFrom('string', 'integer', 'number', 'boolean', 'object', 'array'),
        required: fc.boolean(),
        default: anything,
        min: fc.integer(),
        max: fc.double({ noNaN: true, noDefaultInfinity: true }),
        enum: fc.array(anything, { minLength: 1, maxLength: 2 }),
        secret: fc.boolean(),
        description: fc.string({ maxLength: 6 }),
      },
      { requiredKeys: ['type'] },
    );
    const valid = fc.record(
      {
        $schema: fc.string({ maxLength: 8 }),
        name,
        version: fc.constantFrom('1.0.0', '0.1.0-beta.1', '10.20.30'),
        description: fc.string({ maxLength: 8 }),
        main: fc.constantFrom('index.mjs', 'lib/x.ts', 'a'),
        dependencies: fc.dictionary(name, range, { maxKeys: 2 }),
        optionalDependencies: fc.dictionary(name, range, { maxKeys: 2 }),
        engine: range,
        hookTimeoutMs: fc.integer({ min: 1, max: 100_000 }),
        retry: fc.record(
          { retries: fc.nat(5), backoffMs: fc.nat(), factor: fc.double({ min: 1, max: 4, noNaN: true }), maxBackoffMs: fc.nat() },
          { requiredKeys: [] },
        ),
        config: fc.dictionary(fc.constantFrom('url', 'pool', 'x'), spec, { maxKeys: 2 }),
        events: fc.record(
          { publishes: fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 2 }), subscribes: fc.array(fc.constant('a.b'), { maxLength: 1 }) },
          { requiredKeys: [] },
        ),
        permissions: fc.array(fc.string({ minLength: 1, maxLength: 3 }), { maxLength: 2 }),
      },
      { requiredKeys: ['name', 'version'] },
    );
    const PATHS = [
      ...Object.keys(Manifest.shape),
      'dependecies',
      'retry.retries',
      'retry.factor',
      'retry.typo',
      'events.publishes',
      'events.typo',
      'config.url',
      'config.url.type',
      'config.url.min',
      'config.url.enum',
      'config.url.required',
      'config.url.typo',
      'dependencies.Bad',
      'dependencies.db',
    ];
    const SEMVER_PATHS = ['version', 'engine', 'dependencies.db'];
    /** `manifest` with the value at `path` replaced by `value` (or deleted), parents created as needed. */
    const mutate = (manifest: Record<string, unknown>, path: string, value: unknown, remove: boolean) => {
      const copy = structuredClone(manifest);
      const keys = path.split('.');
      let node: Record<string, unknown> = copy;
      for (const key of keys.slice(0, -1)) {
        const next = node[key];
        if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = key === 'url' ? { type: 'string' } : {};
        node = node[key] as Record<string, unknown>;
      }
      const last = keys[keys.length - 1]!;
      if (remove) delete node[last];
      else node[last] = value;
      return copy;
    };
    const mutated = fc
      .tuple(valid, fc.constantFrom(...PATHS), anything, fc.boolean())
      // A string where semver is expected is the one thing only zod can judge: use a number there.
      .map(([manifest, path, value, remove]) => {
        const semverPath = SEMVER_PATHS.includes(path) && typeof value === 'string';
        return mutate(manifest as Record<string, unknown>, path, semverPath ? 1 : value, remove);
      });
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(valid, mutated), (value) => {
        // Like semver, a config spec's coherence (min ≤ max, enum values of its type) is beyond
        // the schema: zod alone judges it.
        const parsed = Manifest.safeParse(value);
        const coherenceOnly = (issue: { code: string; path: PropertyKey[] }) =>
          issue.code === 'custom' && issue.path[0] === 'config' && (issue.path[2] === 'min' || issue.path[2] === 'enum');
        const byZod = parsed.success || parsed.error.issues.every(coherenceOnly);
        const bySchema = check(value, schema).length === 0;
        if (byZod) accepted += 1;
        expect({ value, byZod, bySchema }).toEqual({ value, byZod, bySchema: byZod });
      }),
      { numRuns: 400 },
    );
    // Both verdicts were exercised (about three in four runs are accepted).
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(390);
  });
});

// ── docs/plugin-contract.md ────────────────────────────────────────────────

describe('docs/plugin-contract.md', () => {
  const doc = read('docs/plugin-contract.md');
  /** The first cell of every table row, when it is a `code` span. */
  const documented = new Set([...doc.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]!));

  it('documents every top-level manifest property in a table row', () => {
    for (const key of Object.keys(schema['properties'] as object)) expect(documented, key).toContain(key);
  });

  it('documents every key of a config field spec in a table row', () => {
    for (const key of Object.keys(ConfigFieldSpec.shape)) expect(documented, key).toContain(key);
  });

  it('lists every error code that can come from disk', () => {
    for (const code of DISK_CODES) {
      expect(documented, code).toContain(code);
    }
  });
});
