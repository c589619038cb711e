/**
 * Embedding Plugin Factory in a Node service, with three in-memory plugins:
 * clock (keeps the time) ← greeter (greets, with the time) ← reporter (prints a greeting now and then).
 *
 * Run: `npx tsx examples/embed.ts`, stop with Ctrl-C. `PLUGIN_FACTORY_DEMO_ONCE=1` shuts down
 * right after boot.
 */
import { createConsoleLogger, createPluginManager, definePlugin } from '../src/index.ts';
import type { PluginDefinition } from '../src/index.ts';

/**
 * What the plugins offer each other. The engine orders them (a dependency runs before its
 * dependents start and stops only after they have stopped); sharing objects is up to the embedder.
 */
interface Services {
  now?: () => Date;
  greet?: (who: string) => string;
}
const services: Services = {};

const clock = definePlugin<{ tickMs: number }>(() => {
  let timer: NodeJS.Timeout | undefined;
  let current = new Date();
  return {
    init(ctx) {
      ctx.logger.info(`ticks every ${ctx.config.tickMs} ms`);
    },
    start(ctx) {
      current = new Date();
      timer = setInterval(() => {
        current = new Date();
      }, ctx.config.tickMs);
      services.now = () => current;
    },
    stop(ctx) {
      clearInterval(timer);
      timer = undefined;
      delete services.now;
      ctx.logger.info('stopped ticking');
    },
  };
});

const greeter = definePlugin<{ greeting: string }>({
  init(ctx) {
    ctx.logger.info(`will say '${ctx.config.greeting}'`);
  },
  start(ctx) {
    const now = services.now;
    if (!now) throw new Error('the clock service is missing');
    services.greet = (who) => `${ctx.config.greeting}, ${who}! It is ${now().toISOString()}.`;
  },
  stop() {
    delete services.greet;
  },
});

const reporter = definePlugin<{ everyMs: number; audience: string }>(() => {
  let timer: NodeJS.Timeout | undefined;
  return {
    init() {},
    start(ctx) {
      const greet = services.greet;
      if (!greet) throw new Error('the greeter service is missing');
      const report = () => ctx.logger.info(greet(ctx.config.audience));
      report();
      timer = setInterval(report, ctx.config.everyMs);
    },
    stop(ctx) {
      clearInterval(timer);
      timer = undefined;
      ctx.logger.info('no more reports');
    },
  };
});

const plugins: PluginDefinition[] = [
  {
    manifest: {
      name: 'clock',
      version: '1.0.0',
      config: { tickMs: { type: 'integer', default: 1000, min: 10 } },
    },
    module: clock,
  },
  {
    manifest: {
      name: 'greeter',
      version: '1.0.0',
      dependencies: { clock: '^1.0.0' },
      config: { greeting: { type: 'string', default: 'Hello', min: 1 } },
    },
    module: greeter,
  },
  {
    manifest: {
      name: 'reporter',
      version: '1.0.0',
      dependencies: { greeter: '^1.0.0' },
      hookTimeoutMs: 1000,
      config: {
        everyMs: { type: 'integer', default: 3000, min: 100 },
        audience: { type: 'string', default: 'operator' },
      },
    },
    module: reporter,
    config: { audience: 'embedder' },
  },
];

const manager = createPluginManager({ plugins, logger: createConsoleLogger({ level: 'info' }) });
manager.subscribe((change) => {
  if (change.type === 'plugin.health') console.log(`plugin ${change.name}: health ${change.previousHealth} -> ${change.health}`);
  else console.log(`${change.type === 'plugin.changed' ? `plugin ${change.name}` : 'host'}: ${change.previous} -> ${change.state}`);
});

let stopping: Promise<void> | null = null;
let firstSignalAt = 0;

const shutDown = (reason: string) =>
  (stopping ??= (async () => {
    console.log(`shutting down (${reason})`);
    const final = await manager.stop();
    console.log(final.plugins.map((p) => `${p.name}=${p.state}`).join(' '));
    process.exitCode = final.plugins.some((p) => p.state.startsWith('failed')) ? 1 : 0;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  })());

function onSignal(signal: NodeJS.Signals) {
  if (!stopping) {
    firstSignalAt = Date.now();
    void shutDown(signal);
  } else if (Date.now() - firstSignalAt > 300) {
    // A repeat within 300 ms is the same Ctrl-C relayed by a parent process (npm, tsx).
    process.exit(signal === 'SIGINT' ? 130 : 143);
  }
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  const booted = await manager.start();
  console.log(`booted: ${booted.plugins.map((p) => `${p.name}=${p.state}`).join(' ')}`);
  if (process.env['PLUGIN_FACTORY_DEMO_ONCE'] === '1') await shutDown('PLUGIN_FACTORY_DEMO_ONCE=1');
  else if (!stopping) console.log(`running; press Ctrl-C to stop (or: kill -INT ${process.pid})`);
} catch (error) {
  // A signal during boot (start() rejects as the host stops), or the 'abort' policy: one line, no stack.
  if (!stopping) console.error(`boot failed: ${error instanceof Error ? error.message : String(error)}`);
  await shutDown('boot failed');
}
