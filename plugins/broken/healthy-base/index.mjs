// Nothing wrong here: this plugin boots, and the dependency demos point at it.
export default {
  init() {},
  start(ctx) {
    ctx.logger.info('healthy-base is running');
  },
  stop() {},
};
