// Counts uptime in ticks while running. A plain hooks object whose state lives in the module.
let ticker = null;
let ticks = 0;
let startedAt = 0;

const clear = () => {
  if (ticker) clearInterval(ticker);
  ticker = null;
};

export default {
  init(ctx) {
    ticks = 0;
    ctx.logger.info(`uptime counter ready (tick ${ctx.config.intervalMs} ms)`);
  },
  start(ctx) {
    clear();
    startedAt = performance.now();
    ticker = setInterval(() => {
      ticks += 1;
    }, ctx.config.intervalMs);
    ctx.logger.info('counting uptime');
  },
  stop(ctx) {
    clear();
    const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
    ctx.logger.info(`uptime ${seconds} s (${ticks} ticks)`);
  },
  dispose() {
    clear();
  },
  health() {
    return { status: ticker !== null ? 'healthy' : 'unhealthy', message: `${ticks} ticks` };
  },
};
