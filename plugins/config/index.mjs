// Holds the host's settings. A plain hooks object (no factory): the simplest plugin shape.
let settings = null;

export default {
  init(ctx) {
    settings = Object.freeze({ appName: ctx.config.appName, environment: ctx.config.environment });
    ctx.logger.info(`settings loaded for '${settings.appName}' (${settings.environment})`);
  },
  start(ctx) {
    ctx.logger.info('settings available');
  },
  stop(ctx) {
    // Nothing to release: the settings are plain data that survive a stop/start cycle.
    ctx.logger.info('stopped');
  },
  dispose() {
    settings = null;
  },
  health() {
    return settings !== null ? 'healthy' : { status: 'unhealthy', message: 'no settings loaded' };
  },
};
