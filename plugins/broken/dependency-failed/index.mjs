// A well-formed module: what is wrong with this plugin is in its plugin.json.
export default {
  init() {},
  start() {},
  stop() {},
};
