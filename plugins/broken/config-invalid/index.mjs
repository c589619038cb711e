// A well-formed plugin; what is missing is the required config value `apiKey` (CONFIG_INVALID).
export default {
  init() {},
  start() {},
  stop() {},
};
