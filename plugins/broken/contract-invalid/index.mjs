// init and start, but no stop: the contract requires all three, so the plugin is invalid
// (CONTRACT_INVALID) and none of these hooks ever runs.
export default {
  init() {},
  start() {},
};
