// init returns a promise that never settles (and holds no timer or handle), so the engine gives up
// after the manifest's hookTimeoutMs (200 ms): HOOK_TIMEOUT, hook "init". ctx.signal is aborted
// at that moment; a well-behaved plugin would stop its work there.
export default {
  init(ctx) {
    return new Promise(() => {
      ctx.signal.addEventListener('abort', () => ctx.logger.warn('init was abandoned after the timeout'), { once: true });
    });
  },
  start() {},
  stop() {},
};
