// Valid manifest, valid contract: init succeeds, then start throws (HOOK_FAILED, hook "start").
// The default retry policy gives it no second try, so it ends in failed.halted.
export default {
  init() {},
  start() {
    throw new Error('hook-failed: cannot bind the listening port (deliberately broken demo plugin)');
  },
  stop() {},
};
