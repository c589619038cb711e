// An in-memory cache in front of the db plugin. The map lives from init; the TTL sweep timer
// exists only while the plugin runs: created in start, cleared in stop.

export default function createCache() {
  const entries = new Map();
  let sweeper = null;
  let ttlMs = 0;

  const set = (key, value) => entries.set(key, { value, expiresAt: Date.now() + ttlMs });
  const sweep = () => {
    const now = Date.now();
    let removed = 0;
    for (const [key, entry] of entries) {
      if (entry.expiresAt <= now) {
        entries.delete(key);
        removed += 1;
      }
    }
    return removed;
  };

  return {
    init(ctx) {
      ttlMs = ctx.config.ttlMs;
      entries.clear();
      ctx.logger.info(`ready (ttl ${ttlMs} ms)`);
    },
    start(ctx) {
      // A restart must not leave a second timer behind.
      if (sweeper) clearInterval(sweeper);
      sweeper = setInterval(sweep, ctx.config.sweepIntervalMs);
      set('started-at', new Date().toISOString());
      ctx.logger.info(`sweeping every ${ctx.config.sweepIntervalMs} ms`);
    },
    stop(ctx) {
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      const dropped = entries.size;
      entries.clear();
      ctx.logger.info(`sweep stopped, ${dropped} entries dropped`);
    },
    dispose() {
      if (sweeper) clearInterval(sweeper);
      sweeper = null;
      entries.clear();
    },
    health() {
      return { status: sweeper !== null ? 'healthy' : 'unhealthy', message: `${entries.size} entries` };
    },
  };
}
