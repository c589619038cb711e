// A fake connection pool: a Set of connection objects opened in init and closed in stop.
// The default export is a factory, so every load of the plugin gets its own pool.

/** Opens one fake connection after a short delay; rejects as soon as `signal` aborts. */
function openConnection(id, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve({ id, open: true, openedAt: Date.now() });
    }, 5);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export default function createDb() {
  const pool = new Set();
  let nextId = 1;

  const close = () => {
    for (const connection of pool) connection.open = false;
    const closed = pool.size;
    pool.clear();
    return closed;
  };

  /** Opens connections until the pool has `size` of them; on failure closes what it opened. */
  const fill = async (size, signal) => {
    const missing = Math.max(0, size - pool.size);
    try {
      const opened = await Promise.all(Array.from({ length: missing }, () => openConnection(nextId++, signal)));
      for (const connection of opened) pool.add(connection);
    } catch (error) {
      close();
      throw error;
    }
  };

  return {
    async init(ctx) {
      // Never log the URL: it is declared secret. Its scheme alone is safe to check.
      if (!ctx.config.url.startsWith('memory://')) {
        throw new Error('only memory:// URLs are supported by this fake pool');
      }
      await fill(ctx.config.pool, ctx.signal);
      ctx.logger.info(`pool of ${pool.size} connections open`);
    },
    async start(ctx) {
      // After a stop the pool is empty: reopen it so stopped -> start -> running works.
      await fill(ctx.config.pool, ctx.signal);
      ctx.logger.info(`serving queries with ${pool.size} connections`);
    },
    stop(ctx) {
      ctx.logger.info(`closed ${close()} connections`);
    },
    dispose() {
      close();
    },
    health() {
      return { status: pool.size > 0 ? 'healthy' : 'unhealthy', message: `${pool.size} connections open` };
    },
  };
}
