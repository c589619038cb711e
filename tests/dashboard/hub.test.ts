/**
 * createInspectionHub: one observer for the manager and every plugin actor, records that name
 * the actor and its plugin, keep only type and state, and a bounded memory.
 */
import { describe, expect, it } from 'vitest';
import { createInspectionHub, createPluginManager, silentLogger } from '../../src/index.ts';
import type { InspectionRecord, PluginFactoryError } from '../../src/index.ts';
import { toRecord } from '../../src/inspection/record.ts';
import type { InspectionEvent } from 'xstate';
import { pluginOf, stopWithin } from '../helpers/host.ts';
import { SECRET, definitions, top } from './plugins.ts';

const KEYS = ['actor', 'at', 'event', 'kind', 'plugin', 'seq', 'source', 'state'];

describe('createInspectionHub', () => {
  it('records the manager and every plugin actor, named, with their states', async () => {
    const hub = createInspectionHub({ capacity: 10_000 });
    const seen: InspectionRecord[] = [];
    hub.subscribe((record) => seen.push(record));
    const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await stopWithin(manager);

    const actors = new Set(seen.filter((r) => r.kind === 'actor').map((r) => r.actor));
    expect([...actors].sort()).toEqual(['cache', 'config', 'db', 'leaky', 'manager']);
    expect(seen.filter((r) => r.actor === 'manager').every((r) => r.plugin === null)).toBe(true);
    // Top-level states: substates (running.* …) are the chart's business.
    const dbStates = seen.filter((r) => r.plugin === 'db' && r.kind === 'snapshot').map((r) => top(r.state));
    expect(dbStates).toContain('running');
    expect(dbStates.indexOf('stopping')).toBeGreaterThan(dbStates.indexOf('running'));
    expect(dbStates[dbStates.length - 1]).toBe('stopped');
    expect(seen.some((r) => r.plugin === 'db' && r.kind === 'event' && r.event === 'plugin.start')).toBe(true);
    // Commands come from the manager, hook answers from nobody in particular.
    const dbEvents = seen.filter((r) => r.actor === 'db' && r.kind === 'event');
    expect(dbEvents.filter((r) => r.event === 'plugin.start').map((r) => r.source)).toEqual(['manager']);
    const answers = dbEvents.filter((r) => r.event === 'hook.done');
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((r) => r.source === null)).toBe(true);
    // Sequence numbers increase by one; recent() is the same list.
    expect(seen.map((r) => r.seq)).toEqual(seen.map((_, i) => i + 1));
    expect(hub.recent()).toEqual(seen);
  });

  it('copies only names, types and states: no context, payload or secret', async () => {
    const hub = createInspectionHub();
    const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await stopWithin(manager);
    const records = hub.recent();
    expect(records.length).toBeGreaterThan(0);
    for (const record of records) expect(Object.keys(record).sort()).toEqual(KEYS);
    expect(JSON.stringify(records)).not.toContain(SECRET);
    // leaky failed with its secret in the thrown message: the record holds only the state.
    expect(records.some((r) => r.plugin === 'leaky' && r.state?.startsWith('failed'))).toBe(true);
  });

  it('keeps at most `capacity` records, the newest', async () => {
    const hub = createInspectionHub({ capacity: 25 });
    let total = 0;
    hub.subscribe(() => total++);
    const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await stopWithin(manager);
    const recent = hub.recent();
    expect(total).toBeGreaterThan(25);
    expect(recent).toHaveLength(25);
    expect(recent[24]!.seq).toBe(total);
    expect(recent[0]!.seq).toBe(total - 24);
  });

  it('a listener that subscribes again as it is told hears each record once, from the next one on; one removed meanwhile hears no more', async () => {
    const hub = createInspectionHub();
    const heard: number[] = [];
    const once = () => {
      const subscription = hub.subscribe((record) => {
        subscription.unsubscribe();
        heard.push(record.seq);
        once();
      });
    };
    once();
    let late = 0;
    const doomed = hub.subscribe(() => void late++);
    hub.subscribe(() => doomed.unsubscribe()); // removes the other during a delivery
    const manager = createPluginManager({ plugins: definitions(), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await stopWithin(manager);
    expect(heard.length).toBeGreaterThan(5);
    expect(new Set(heard).size).toBe(heard.length);
    expect(heard).toEqual(hub.recent().map((record) => record.seq).slice(-heard.length));
    expect(late).toBe(1);
  });

  it('refuses options, listeners and observers it cannot use, with a code', () => {
    for (const options of [null, 5, 'x']) {
      expect(() => createInspectionHub(options as never)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }));
    }
    const hub = createInspectionHub();
    for (const bad of [null, 5, 'x', {}]) {
      expect(() => hub.subscribe(bad as never)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }));
      expect(() => hub.forward(bad as never)).toThrow(expect.objectContaining({ code: 'ARGUMENT_INVALID' }));
    }
  });

  it('names a reloaded plugin actor db@2 and still files it under db', async () => {
    const hub = createInspectionHub({ capacity: 10_000 });
    const plugins = definitions();
    const manager = createPluginManager({ plugins, logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    await manager.reloadPlugin('cache', plugins[2]!);
    expect(top(pluginOf(manager, 'cache').state)).toBe('running');
    await stopWithin(manager);
    const reloaded = hub.recent().filter((r) => r.actor === 'cache@2');
    expect(reloaded.length).toBeGreaterThan(0);
    expect(reloaded.every((r) => r.plugin === 'cache')).toBe(true);
  });

  it('forwards raw events to other observers until unsubscribed', async () => {
    const hub = createInspectionHub();
    const raw: string[] = [];
    const forwarding = hub.forward({ next: (event) => raw.push(event.type) });
    const manager = createPluginManager({ plugins: definitions().slice(0, 1), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    expect(raw).toContain('@xstate.actor');
    expect(raw).toContain('@xstate.action'); // raw events include what the timeline leaves out
    forwarding.unsubscribe();
    const count = raw.length;
    await stopWithin(manager);
    expect(raw).toHaveLength(count);
  });

  it('a consumer that throws costs that consumer its events, never the host', async () => {
    const hub = createInspectionHub();
    hub.subscribe(() => {
      throw new Error('broken consumer');
    });
    const manager = createPluginManager({ plugins: definitions().slice(0, 3), logger: silentLogger, inspect: hub.inspect });
    await manager.start();
    expect(top(pluginOf(manager, 'cache').state)).toBe('running');
    await stopWithin(manager);
    expect(manager.getSnapshot().state).toBe('stopped');
  });

  it('an async consumer or forward that rejects costs it its events, and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const hub = createInspectionHub();
      hub.subscribe(async () => {
        throw new Error('broken consumer');
      });
      hub.forward(async () => {
        throw new Error('broken forward');
      });
      const manager = createPluginManager({ plugins: definitions().slice(0, 3), logger: silentLogger, inspect: hub.inspect });
      await manager.start();
      expect(top(pluginOf(manager, 'cache').state)).toBe('running');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
      await stopWithin(manager);
      expect(manager.getSnapshot().state).toBe('stopped');
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('names who sent an event, and the actors a plugin actor runs after it', () => {
    const manager = { id: 'x:0', sessionId: 'x:0', logic: { id: 'manager' } };
    const db = { id: 'db@2', sessionId: 'x:1', logic: { id: 'plugin' } };
    const hook = { id: 'hook', sessionId: 'x:2', logic: {}, _parent: db };
    const event = (actorRef: object, sourceRef?: object) =>
      ({ type: '@xstate.event', actorRef, sourceRef, event: { type: 'plugin.start', secret: SECRET }, rootId: 'x:1' }) as unknown as InspectionEvent;
    expect(toRecord(event(db, manager), 1, 0)).toEqual({
      seq: 1, at: 0, kind: 'event', actor: 'db@2', plugin: 'db', event: 'plugin.start', state: null, source: 'manager',
    });
    expect(toRecord(event(hook), 2, 0)).toMatchObject({ actor: 'db@2/hook', plugin: 'db', source: null });
    // The manager sends its commands as plain sends (no sender): a command reaching a plugin
    // actor is still shown as the manager's, any other event without a sender is not.
    expect(toRecord(event(db), 4, 0)).toMatchObject({ actor: 'db@2', source: 'manager' });
    const answer = { type: '@xstate.event', actorRef: db, event: { type: 'hook.done', ms: 1 }, rootId: 'x:1' } as unknown as InspectionEvent;
    expect(toRecord(answer, 5, 0)).toMatchObject({ actor: 'db@2', event: 'hook.done', source: null });
    expect(toRecord({ type: '@xstate.action', actorRef: db } as unknown as InspectionEvent, 3, 0)).toBeNull();
  });

  it.each([0, -1, 1.5, 'ten', 2_000_000])('refuses capacity %s with OPTIONS_INVALID', (capacity) => {
    expect(() => createInspectionHub({ capacity: capacity as number })).toThrow(
      expect.objectContaining({ code: 'OPTIONS_INVALID' }) as PluginFactoryError,
    );
  });

  it.each<[string, unknown]>([
    ['a misspelt option', { capcity: 5 }],
    ['an array', []],
  ])('refuses %s as its options with OPTIONS_INVALID', (_, options) => {
    expect(() => createInspectionHub(options as never)).toThrow(expect.objectContaining({ code: 'OPTIONS_INVALID' }) as PluginFactoryError);
  });
});
