/**
 * The dependency graph of a checked host as the CLI shows it: one node per plugin (valid or
 * not), plus a node for each dependency no plugin provides, and one edge per declared
 * dependency, from the plugin to what it depends on.
 */
import { bootOrder } from '../../machines/dependency-graph.ts';
import { Manifest } from '../index.ts';
import type { LoadedHost, ManagerSnapshot } from '../index.ts';

export interface GraphNode {
  name: string;
  version: string | null;
  valid: boolean;
  /** Set on a dependency that no loaded plugin provides. */
  missing?: true;
  /** Set on such a dependency when only optional edges lead to it: its absence is no error. */
  optional?: true;
}

export interface GraphEdge {
  /** The plugin that depends… */
  from: string;
  /** …on this one. */
  to: string;
  optional: boolean;
}

export interface HostGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

interface Dependencies {
  requires: string[];
  optional: string[];
}

/** The keys of a manifest's dependency map as written, when it is an object. */
function keysOf(map: unknown): string[] {
  return typeof map === 'object' && map !== null && !Array.isArray(map) ? Object.keys(map) : [];
}

/**
 * Required and optional dependencies of every plugin, by plugin name: as the manifest declares
 * them, and as written when another part of it is wrong (a bad version does not hide its edges).
 */
function dependenciesByName(host: LoadedHost): Map<string, Dependencies> {
  const out = new Map<string, Dependencies>();
  for (const definition of host.definitions) {
    const parsed = Manifest.safeParse(definition.manifest);
    const manifest = parsed.success ? parsed.data : (definition.manifest as { name?: unknown; dependencies?: unknown; optionalDependencies?: unknown } | undefined);
    if (typeof manifest?.name !== 'string') continue;
    const requires = keysOf(manifest.dependencies);
    const optional = keysOf(manifest.optionalDependencies).filter((dep) => !requires.includes(dep));
    out.set(manifest.name, { requires, optional });
  }
  return out;
}

export function hostGraph(host: LoadedHost, snapshot: ManagerSnapshot): HostGraph {
  const nodes: GraphNode[] = snapshot.plugins.map((plugin) => ({
    name: plugin.name,
    version: plugin.version,
    valid: plugin.state !== 'invalid',
  }));
  const known = new Set(nodes.map((node) => node.name));
  const edges: GraphEdge[] = [];
  for (const [name, deps] of dependenciesByName(host)) {
    if (!known.has(name)) continue;
    for (const to of deps.requires) edges.push({ from: name, to, optional: false });
    for (const to of deps.optional) edges.push({ from: name, to, optional: true });
  }
  for (const edge of edges) {
    if (known.has(edge.to)) continue;
    known.add(edge.to);
    const optional = edges.every((other) => other.to !== edge.to || other.optional);
    nodes.push({ name: edge.to, version: null, valid: false, missing: true, ...(optional ? { optional: true as const } : {}) });
  }
  return { nodes, edges };
}

/**
 * Valid plugins that could not run anyway: a required dependency is invalid, missing, or itself
 * blocked. Maps each to the dependency that blocks it (what `run` reports as DEPENDENCY_FAILED).
 */
export function blockedPlugins(host: LoadedHost, snapshot: ManagerSnapshot): Map<string, string> {
  const deps = dependenciesByName(host);
  const valid = new Set(snapshot.plugins.filter((plugin) => plugin.state !== 'invalid').map((plugin) => plugin.name));
  const blocked = new Map<string, string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const name of valid) {
      if (blocked.has(name)) continue;
      const culprit = deps.get(name)?.requires.find((dep) => !valid.has(dep) || blocked.has(dep));
      if (culprit === undefined) continue;
      blocked.set(name, culprit);
      changed = true;
    }
  }
  return blocked;
}

/** A boot order of the plugins that can run: each after the plugins it depends on. */
export function validBootOrder(host: LoadedHost, snapshot: ManagerSnapshot): string[] {
  const deps = dependenciesByName(host);
  const blocked = blockedPlugins(host, snapshot);
  const valid = snapshot.plugins.filter((plugin) => plugin.state !== 'invalid' && !blocked.has(plugin.name));
  return bootOrder(
    valid.map((plugin) => ({
      name: plugin.name,
      requires: deps.get(plugin.name)?.requires ?? [],
      optional: deps.get(plugin.name)?.optional ?? [],
    })),
  );
}
