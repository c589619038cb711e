/**
 * `plugin-factory graph` (mermaid, dot, json) over the loaded plugins, and `plugin-factory
 * chart` (mermaid, json, scxml) over the statecharts.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FIXTURES, cli, killAll } from '../fixtures/cli/run-cli.ts';
import { graphToDot, graphToMermaid } from '../../src/cli/graph.ts';

interface GraphJson {
  nodes: Array<{ name: string; version: string | null; valid: boolean; missing?: boolean }>;
  edges: Array<{ from: string; to: string; optional: boolean }>;
}

afterEach(killAll);

/** Checks that `xml` nests properly; returns its elements with their attributes. */
function parseXml(xml: string): Array<{ tag: string; attrs: Record<string, string> }> {
  const body = xml.replace(/^<\?xml[^>]*\?>/, '').replace(/<!--[\s\S]*?-->/g, '');
  const elements: Array<{ tag: string; attrs: Record<string, string> }> = [];
  const stack: string[] = [];
  const text = body.replace(/<(\/?)([A-Za-z][\w.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g, (_m, close, tag, attrs, selfClose) => {
    if (close) {
      expect(stack.pop(), `closing </${tag}>`).toBe(tag);
      return '';
    }
    const parsed: Record<string, string> = {};
    for (const [, key, value] of (attrs as string).matchAll(/([\w:.-]+)="([^"]*)"/g)) parsed[key!] = value!;
    elements.push({ tag, attrs: parsed });
    if (!selfClose) stack.push(tag);
    return '';
  });
  expect(stack, 'unclosed elements').toEqual([]);
  expect(text.trim(), 'text outside elements').toBe('');
  return elements;
}

describe('plugin-factory graph', () => {
  it('json: nodes with validity, required and optional edges, missing dependencies marked', async () => {
    const good = await cli(['graph', `${FIXTURES}/good`, '--format', 'json']);
    expect(good.code, good.stderr).toBe(0);
    const graph = JSON.parse(good.stdout) as GraphJson;
    expect(graph.nodes).toEqual(
      expect.arrayContaining([
        { name: 'base', version: '1.0.0', valid: true },
        { name: 'api', version: '2.0.0', valid: true },
      ]),
    );
    expect(graph.nodes).toHaveLength(4);
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: 'store', to: 'base', optional: false },
        { from: 'api', to: 'store', optional: false },
        { from: 'api', to: 'audit', optional: true },
      ]),
    );
    expect(graph.edges).toHaveLength(3);

    const mixed = JSON.parse((await cli(['graph', `${FIXTURES}/mixed`, '--format', 'json'])).stdout) as GraphJson;
    expect(mixed.nodes.find((n) => n.name === 'cycle-a')).toMatchObject({ valid: false });
    expect(mixed.nodes.find((n) => n.name === 'ghost')).toMatchObject({ valid: false, missing: true });
    expect(mixed.edges).toEqual(
      expect.arrayContaining([
        { from: 'cycle-a', to: 'cycle-b', optional: false },
        { from: 'cycle-b', to: 'cycle-a', optional: false },
        { from: 'needs-ghost', to: 'ghost', optional: false },
      ]),
    );
  });

  it('mermaid (the default): a flowchart, optional edges dashed, invalid plugins classed', async () => {
    const { code, stdout } = await cli(['graph', `${FIXTURES}/mixed`]);
    expect(code).toBe(1); // the mixed folder has a duplicate name: a host problem
    expect(stdout.split('\n')[0]).toBe('flowchart LR');
    const id = (label: string) => new RegExp(`^ {2}(n\\d+)\\["${label}`, 'm').exec(stdout)?.[1];
    expect(stdout).toContain(`${id('beta')} --> ${id('alpha')}`);
    expect(stdout).toMatch(/\["cycle-a 1\.0\.0 \(invalid\)"\]:::invalid/);
    expect(stdout).toMatch(/\["ghost \(missing\)"\]:::missing/);
    const good = await cli(['graph', `${FIXTURES}/good`, '--format', 'mermaid']);
    const goodId = (label: string) => new RegExp(`^ {2}(n\\d+)\\["${label}`, 'm').exec(good.stdout)?.[1];
    expect(good.stdout).toContain(`${goodId('api')} -.-> ${goodId('audit')}`);
  });

  it('an optional dependency nobody provides is drawn absent, not missing; a manifest wrong elsewhere keeps its edges', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-graph-'));
    try {
      const plugin = async (name: string, manifest: Record<string, unknown>) => {
        await mkdir(join(dir, name));
        await writeFile(join(dir, name, 'plugin.json'), JSON.stringify({ name, version: '1.0.0', ...manifest }));
        await writeFile(join(dir, name, 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
      };
      await plugin('solo', { optionalDependencies: { maybe: '*' } });
      await plugin('typo', { version: '1.0', dependencies: { nowhere: '*' } });
      const graphed = await cli(['graph', dir, '--format', 'json']);
      const graph = JSON.parse(graphed.stdout) as GraphJson & { nodes: Array<{ optional?: boolean }> };
      const byName = Object.fromEntries(graph.nodes.map((node) => [node.name, node]));
      expect(byName['maybe']).toEqual({ name: 'maybe', version: null, valid: false, missing: true, optional: true });
      expect(byName['nowhere']).toEqual({ name: 'nowhere', version: null, valid: false, missing: true });
      expect(graph.edges).toEqual(expect.arrayContaining([{ from: 'typo', to: 'nowhere', optional: false }]));
      const mermaid = (await cli(['graph', dir])).stdout;
      expect(mermaid).toMatch(/\["maybe \(absent, optional\)"\]:::absent/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an invalid plugin alone (no host problem) still fails the command, as validate does, and says why on stderr', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-graph-'));
    try {
      await mkdir(join(dir, 'ok'));
      await writeFile(join(dir, 'ok', 'plugin.json'), JSON.stringify({ name: 'ok', version: '1.0.0' }));
      await writeFile(join(dir, 'ok', 'index.mjs'), 'export default { init() {}, start() {}, stop() {} };\n');
      await mkdir(join(dir, 'hookless'));
      await writeFile(join(dir, 'hookless', 'plugin.json'), JSON.stringify({ name: 'hookless', version: '1.0.0' }));
      await writeFile(join(dir, 'hookless', 'index.mjs'), 'export default { init() {} };\n');
      const graphed = await cli(['graph', dir, '--format', 'json']);
      expect(graphed.code).toBe(1);
      const graph = JSON.parse(graphed.stdout) as GraphJson;
      expect(graph.nodes.map((node) => [node.name, node.valid])).toEqual(expect.arrayContaining([['ok', true], ['hookless', false]]));
      expect(graphed.stderr).toMatch(/^hookless: CONTRACT_INVALID: /m);
      await rm(join(dir, 'hookless'), { recursive: true });
      expect((await cli(['graph', dir])).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('dot: a digraph, optional edges dashed, invalid plugins red', async () => {
    const { code, stdout } = await cli(['graph', `${FIXTURES}/good`, '--format', 'dot']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^digraph plugins \{\n/);
    expect(stdout.trimEnd().endsWith('}')).toBe(true);
    expect(stdout).toContain('"store" -> "base";');
    expect(stdout).toContain('"api" -> "audit" [style=dashed];');
    const mixed = await cli(['graph', `${FIXTURES}/mixed`, '--format', 'dot']);
    expect(mixed.stdout).toMatch(/"needs-ghost" \[label="needs-ghost 1\.0\.0 \(invalid\)".*color=red/);
  });
});

describe('plugin-factory chart', () => {
  it("mermaid: a label shows an invalid plugin's name as written, entity codes and markup included", () => {
    const mermaid = graphToMermaid({ nodes: [{ name: '#quot;<br>"x"', version: null, valid: false }], edges: [] });
    expect(mermaid).toContain('n0["#35;quot;#60;br#62;#34;x#34; (invalid)"]:::invalid');
  });

  it('mermaid: a name can neither open a markdown string (a leading `), nor bring a directive (%%{init}%%), nor an HTML entity', () => {
    const names = ['`md`', "%%{init: {'theme':'forest'}}%%", '&amp;'];
    const mermaid = graphToMermaid({ nodes: names.map((name) => ({ name, version: null, valid: false })), edges: [] });
    const labels = mermaid.split('\n').filter((line) => /^ {2}n\d/.test(line));
    expect(labels).toEqual([
      '  n0["#96;md#96; (invalid)"]:::invalid',
      "  n1[\"#37;#37;{init: {'theme':'forest'}}#37;#37; (invalid)\"]:::invalid",
      '  n2["#38;amp; (invalid)"]:::invalid',
    ]);
    expect(mermaid).not.toMatch(/[`%&]/);
  });

  it('dot: a name holding an HTML entity is shown as written', () => {
    const dot = graphToDot({ nodes: [{ name: '&lt;x', version: null, valid: false }], edges: [] });
    expect(dot).toContain('"&lt;x" [label="&amp;lt;x (invalid)"');
  });

  it('a value option given twice is a usage error (exit 2), in graph, chart, test and run alike', async () => {
    const twice = [
      ['graph', `${FIXTURES}/good`, '--format', 'json', '--format=dot'],
      ['chart', '--machine', 'manager', '--machine', 'lifecycle'],
      ['test', `${FIXTURES}/good`, '--cover=simple', '--cover', 'transitions'],
      ['run', `${FIXTURES}/good`, '--dashboard', '--dashboard=0'],
    ];
    for (const args of twice) {
      const { code, stdout } = await cli(args);
      expect([args[0], code, stdout]).toEqual([args[0], 2, '']);
    }
  });

  it('mermaid (the default): the lifecycle chart', async () => {
    const { code, stdout } = await cli(['chart']);
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe('stateDiagram-v2');
    expect(stdout).toContain('[*] --> validating');
    expect(stdout).toMatch(/running --> stopping: plugin\.stop/);
  });

  it('json: states and transitions, for either machine', async () => {
    const lifecycle = await cli(['chart', '--format', 'json']);
    expect(lifecycle.code).toBe(0);
    const chart = JSON.parse(lifecycle.stdout) as { id: string; initial: string; states: Array<{ path: string }>; transitions: unknown[] };
    expect([chart.id, chart.initial]).toEqual(['plugin', 'validating']);
    expect(chart.states.map((s) => s.path)).toEqual(expect.arrayContaining(['validating', 'invalid', 'running', 'failed.retrying']));
    const manager = JSON.parse((await cli(['chart', '--format', 'json', '--machine', 'manager'])).stdout) as { id: string; initial: string };
    expect([manager.id, manager.initial]).toEqual(['manager', 'idle']);
  });

  it('scxml: well-formed, states nested, every transition target and initial state declared', async () => {
    for (const machine of ['lifecycle', 'manager']) {
      const { code, stdout } = await cli(['chart', '--format', 'scxml', '--machine', machine]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n<scxml xmlns="http:\/\/www\.w3\.org\/2005\/07\/scxml"/);
      const elements = parseXml(stdout);
      const ids = new Set(elements.filter((e) => ['state', 'final', 'parallel', 'history'].includes(e.tag)).map((e) => e.attrs['id']));
      expect(ids.size).toBeGreaterThan(4);
      for (const element of elements) {
        for (const target of element.attrs['target']?.split(' ') ?? []) expect(ids, `target ${target}`).toContain(target);
        if (element.attrs['initial'] !== undefined) expect(ids, `initial ${element.attrs['initial']}`).toContain(element.attrs['initial']);
      }
      if (machine === 'lifecycle') {
        expect([...ids]).toEqual(expect.arrayContaining(['validating', 'failed', 'failed.retrying', 'running']));
        expect(elements.filter((e) => e.tag === 'final').map((e) => e.attrs['id']).sort()).toEqual(['disposed', 'invalid']);
        expect(elements).toContainEqual({ tag: 'transition', attrs: { event: 'plugin.stop', target: 'stopping' } });
        expect(stdout).toMatch(/<state id="failed" initial="failed\.deciding">[\s\S]*<state id="failed\.retrying">/);
        // The retry's timer is cancelled when failed.retrying is left, as XState cancels it, and
        // its delay is a name the data model declares.
        const sends = elements.filter((e) => e.tag === 'send');
        expect(sends.length).toBeGreaterThan(0);
        const cancelled = new Set(elements.filter((e) => e.tag === 'cancel').map((e) => e.attrs['sendid']));
        const data = new Set(elements.filter((e) => e.tag === 'data').map((e) => e.attrs['id']));
        expect(elements.find((e) => e.tag === 'scxml')?.attrs['datamodel']).toBe('ecmascript');
        for (const send of sends) {
          expect(cancelled, `cancel of ${send.attrs['id']}`).toContain(send.attrs['id']);
          if (send.attrs['delayexpr'] !== undefined) expect(data).toContain(send.attrs['delayexpr']);
        }
      }
    }
  });
});
