// Top-level code runs on import: this throw makes the import fail (MODULE_LOAD_FAILED), so the
// hooks below are never reached.
throw new Error('module-load-failed: DEMO_LICENSE_KEY is not set (deliberately broken demo plugin)');

export default {
  init() {},
  start() {},
  stop() {},
};
