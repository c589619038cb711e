import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createPinoLogger, pluginLogger } from '../../src/platform/index.ts';
import { secretValues } from '../../src/config.ts';
import { createConsoleLogger } from '../../src/logger.ts';
import type { LogFields, Logger } from '../../src/logger.ts';
import { codeOf } from './helpers.ts';

/** A pino logger writing JSON lines into an array. */
function capturedPino(level = 'info') {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createPinoLogger({ level, destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { logger, lines };
}

const SECRET_SPECS = { url: { type: 'string', secret: true }, pin: { type: 'integer', secret: true }, pool: { type: 'integer' } } as const;
const config = { url: 'postgres://admin:hunter2@db', pin: 48213, pool: 5 };
const secrets = secretValues(SECRET_SPECS, config);

describe('pino host logger', () => {
  it('writes to a file path given as its destination, and refuses one that cannot be opened with OPTIONS_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugin-factory-log-'));
    try {
      const file = join(dir, 'host.log');
      const logger = createPinoLogger({ destination: file });
      logger.info({ n: 1 }, 'to the file');
      await new Promise<void>((resolve, reject) => logger.flush((error) => (error ? reject(error) : resolve())));
      expect(JSON.parse((await readFile(file, 'utf8')).trim())).toMatchObject({ n: 1, msg: 'to the file' });
      expect(codeOf(() => createPinoLogger({ destination: join(dir, 'missing', 'host.log') }))).toBe('OPTIONS_INVALID');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a destination stream that fails to open is told on stderr once, and does not end the process', async () => {
    const told: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (told.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const stream = pino.destination({ dest: join(tmpdir(), 'plugin-factory-no-such-dir', 'x', 'host.log'), sync: false });
      createPinoLogger({ destination: stream });
      await new Promise<void>((resolve) => stream.once('error', () => setImmediate(resolve)));
    } finally {
      process.stderr.write = write;
    }
    expect(told.filter((line) => line.includes('log destination failed'))).toHaveLength(1);
  });

  it.skipIf(!existsSync('/dev/full'))('a file path whose writes fail later (a full disk) is told once on stderr; a refused call leaves no file open; loggers on one stream add one listener', async () => {
    const told: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (told.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const logger = createPinoLogger({ destination: '/dev/full' });
      for (let i = 0; i < 100; i++) logger.info({ i }, 'a line nobody can keep');
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.stderr.write = write;
    }
    expect(told.filter((line) => line.includes('log destination failed'))).toHaveLength(1);
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 5; i++) expect(codeOf(() => createPinoLogger({ destination: '/dev/null', level: 'verbose' }))).toBe('OPTIONS_INVALID');
    expect(open()).toBe(before);
    const shared = new PassThrough();
    for (let i = 0; i < 12; i++) createPinoLogger({ destination: shared });
    expect(shared.listenerCount('error')).toBe(1);
    // A level given as undefined (an unset environment variable) is the default.
    expect(createPinoLogger({ level: undefined, destination: shared }).level).toBe('info');
    // Where pino gives undefined a meaning, it keeps it: base undefined writes no pid or hostname.
    const lines: string[] = [];
    createPinoLogger({ base: undefined as never, destination: { write: (line: string) => void lines.push(line) } }).info('bare');
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('pid');
  });

  it.skipIf(!existsSync('/dev/full'))('a process whose log file failed still exits: nothing is written again at exit', async () => {
    const entry = fileURLToPath(new URL('../../src/platform/logging.ts', import.meta.url));
    const script = `import { createPinoLogger } from ${JSON.stringify(pathToFileURL(entry).href)};
const logger = createPinoLogger({ destination: '/dev/full' });
logger.info('a line');
// Lines logged after the failure, then an exit: their buffer would be written again and again.
setTimeout(() => { logger.info('another line'); logger.info('and more'); setTimeout(() => process.exit(0), 50); }, 50);`;
    const exited = await new Promise<number | null>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 10_000, killSignal: 'SIGKILL' }, () => undefined);
      child.on('exit', (code) => resolve(code));
    });
    expect(exited).toBe(0);
  });

  it('is a pino logger that fits the engine Logger interface, info by default', () => {
    const { logger, lines } = capturedPino(undefined);
    const asHost: Logger = logger;
    expectTypeOf(logger.child({ a: 1 })).toMatchTypeOf<Logger>();
    asHost.debug('hidden');
    asHost.info({ a: 1 }, 'shown');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, a: 1, msg: 'shown' });
  });
});

describe('plugin logger', () => {
  it('carries the plugin name and its current state on every line', () => {
    const { logger, lines } = capturedPino();
    let state = 'starting';
    const log = pluginLogger(logger, { name: 'db', getState: () => state });
    log.info('connecting');
    state = 'running';
    log.warn({ pool: 5, state: 'mine' }, 'connected');
    const child = log.child({ component: 'pool' });
    state = 'stopping';
    child.error('closing');
    expect(lines.map(({ plugin, state: s, msg }) => [plugin, s, msg])).toEqual([
      ['db', 'starting', 'connecting'],
      ['db', 'running', 'connected'],
      ['db', 'stopping', 'closing'],
    ]);
    expect(lines[1]).toMatchObject({ pool: 5, level: 40 });
    expect(lines[2]).toMatchObject({ component: 'pool', level: 50 });
  });

  it('redacts secret values in messages, fields, errors and child bindings', () => {
    const { logger, lines } = capturedPino();
    const log = pluginLogger(logger, { name: 'db', getState: () => 'running', secrets });
    log.info(`connecting to ${config.url}`);
    log.info({ target: { url: config.url, list: [config.pin] }, pin: config.pin, pool: 5 }, 'fields');
    log.error(new Error(`login failed for ${config.url}`) as unknown as LogFields); // as plain JS may call it
    log.error({ err: new Error(`pin ${config.pin} refused`) }, 'with err');
    log.child({ dsn: config.url }).info('child');
    // pino's own time and pid are not what the plugin logged (and may hold the pin's digits by chance).
    const text = lines.map(({ time: _time, pid: _pid, ...logged }) => JSON.stringify(logged)).join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(String(config.pin));
    expect(text).toContain('[redacted]');
    expect(lines[1]).toMatchObject({ pool: 5, pin: '[redacted]', target: { list: ['[redacted]'] } });
    expect(lines[2]).toMatchObject({ err: { type: 'Error' }, state: 'running' });
    expect(lines[2]?.['msg']).toContain('[redacted]');
    expect(lines[3]).toMatchObject({ err: { type: 'Error', message: 'pin [redacted] refused' }, msg: 'with err' });
  });

  it('redacts what a toJSON returns, own or inherited, on a field or an error', () => {
    const { logger, lines } = capturedPino();
    const log = pluginLogger(logger, { name: 'db', getState: () => 'running', secrets });
    class Dsn {
      toJSON() {
        return { dsn: config.url };
      }
    }
    log.info({ token: { toJSON: () => `token=${config.url}` }, dsn: new Dsn() }, 'fields');
    const error = Object.assign(new Error('db down'), { toJSON: () => ({ conn: config.url }) });
    log.error({ error }, 'own toJSON on an error');
    log.error(error as unknown as LogFields);
    log.info({ broken: { toJSON: () => { throw new Error('no'); } } }, 'a toJSON that throws');
    const text = lines.map(({ time: _time, pid: _pid, ...logged }) => JSON.stringify(logged)).join('\n');
    expect(text).not.toContain('hunter2');
    expect(lines[0]).toMatchObject({ token: 'token=[redacted]', dsn: { dsn: '[redacted]' } });
    expect(lines).toHaveLength(4);
  });

  it('writes a boxed String, Number or Boolean as its primitive, scrubbed like one', () => {
    const { logger, lines } = capturedPino();
    const log = pluginLogger(logger, { name: 'db', getState: () => 'running', secrets });
    log.info({ url: new String(config.url), pin: new Number(config.pin), on: new Boolean(true), big: Object(12n) as object }, 'boxed');
    log.info(new String(config.url) as unknown as LogFields);
    const text = lines.map(({ time: _time, pid: _pid, ...logged }) => JSON.stringify(logged)).join('\n');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain(String(config.pin));
    expect(lines[0]).toMatchObject({ url: '[redacted]', pin: '[redacted]', on: true });
    expect(lines).toHaveLength(2);
    // Something that only looks like a String (a Proxy of one) is read as an object: the line keeps its other fields.
    log.info({ odd: new Proxy(new String('x'), {}), pool: 5 }, 'odd');
    expect(lines[2]).toMatchObject({ pool: 5, msg: 'odd' });
  });

  it('a plugin cannot write lines in another plugin\'s name or state, through fields or child bindings', () => {
    const raw: string[] = [];
    const logger = createPinoLogger({ destination: { write: (line: string) => void raw.push(line) } });
    const log = pluginLogger(logger, { name: 'evil', getState: () => 'running' });
    log.warn({ plugin: 'db', detail: 1 }, 'dropping all tables');
    log.child({ plugin: 'auth', state: 'stopped', request: 7 }).error('password reset');
    expect(raw).toHaveLength(2);
    for (const line of raw) {
      // One key each (JSON readers keep the last of duplicates), and it is the engine's.
      expect(line.match(/"plugin":/g)).toHaveLength(1);
      expect(line.match(/"state":/g)).toHaveLength(1);
      expect(JSON.parse(line)).toMatchObject({ plugin: 'evil', state: 'running' });
    }
    expect(JSON.parse(raw[0]!)).toMatchObject({ detail: 1 });
    expect(JSON.parse(raw[1]!)).toMatchObject({ request: 7 });
  });

  it('keeps an error logged alone as an error when there are no secrets', () => {
    const { logger, lines } = capturedPino();
    pluginLogger(logger, { name: 'db', getState: () => 'running' }).error(new Error('plain') as unknown as LogFields);
    expect(lines[0]).toMatchObject({ msg: 'plain', err: { type: 'Error', message: 'plain' } });
  });

  it('works over any pino-compatible logger', () => {
    const written: string[] = [];
    const host = createConsoleLogger({ write: (line) => written.push(line) });
    const log = pluginLogger(host, { name: 'db', getState: () => 'running', secrets });
    log.info({ url: config.url }, `using ${config.url}`);
    expect(written).toHaveLength(1);
    expect(written[0]).toContain('[db]');
    expect(written[0]).toContain('"state":"running"');
    expect(written[0]).not.toContain('hunter2');
  });

  it('the console logger writes one line per entry: line breaks and terminal escapes of the message and plugin are written out', () => {
    const written: string[] = [];
    const host = createConsoleLogger({ write: (line) => written.push(line) });
    host.child({ plugin: 'db\u001b[2J' }).error({ detail: 'a\nb' }, 'failed: first\n\u001b[31msecond');
    expect(written).toHaveLength(1);
    expect(written[0]).not.toMatch(/[\n\u001b]/);
    expect(written[0]).toContain('first\\u000a\\u001b[31msecond');
  });

  it('the console logger refuses a level it does not know (a typo would log everything), a write that is no function and options that are no object', () => {
    for (const options of [{ level: 'warning' }, { write: 5 }, { bindings: 'db' }, null]) {
      expect(codeOf(() => createConsoleLogger(options as never)), JSON.stringify(options)).toBe('OPTIONS_INVALID');
    }
    const written: string[] = [];
    createConsoleLogger({ level: 'warn', write: (line) => written.push(line) }).info('not shown');
    expect(written).toEqual([]);
  });

  it('a line whose fields or bindings throw when read (a getter, a revoked Proxy) is still written, and never throws', () => {
    const { logger, lines } = capturedPino();
    const log = pluginLogger(logger, { name: 'db', getState: () => 'running', secrets });
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const trap = {
      get broken() {
        throw new Error('getter bomb');
      },
    };
    expect(() => log.info(trap, 'with a getter')).not.toThrow();
    expect(() => log.warn(revoked as Record<string, unknown>, 'with a revoked proxy')).not.toThrow();
    expect(() => log.child(revoked as Record<string, unknown>).info('from a child')).not.toThrow();
    expect(lines.map((line) => [line['plugin'], line['msg']])).toEqual([
      ['db', 'with a getter'],
      ['db', 'with a revoked proxy'],
      ['db', 'from a child'],
    ]);
  });

  it('says unknown when getState throws', () => {
    const { logger, lines } = capturedPino();
    const log = pluginLogger(logger, {
      name: 'db',
      getState: () => {
        throw new Error('actor gone');
      },
    });
    log.info('still logs');
    expect(lines[0]).toMatchObject({ plugin: 'db', state: 'unknown' });
  });

  it('refuses bad arguments with ARGUMENT_INVALID', () => {
    const { logger } = capturedPino();
    const getState = () => 'running';
    expect(codeOf(() => pluginLogger(logger, { name: 'Bad', getState }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => pluginLogger({ info() {} } as unknown as Logger, { name: 'db', getState }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => pluginLogger(logger, { name: 'db', getState: 'running' as unknown as () => string }))).toBe('ARGUMENT_INVALID');
    expect(codeOf(() => pluginLogger(logger, { name: 'db', getState, secrets: [1] as unknown as string[] }))).toBe('ARGUMENT_INVALID');
  });
});
