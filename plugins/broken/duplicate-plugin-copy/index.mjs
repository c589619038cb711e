// Two folders declare the name "duplicate-plugin": the first one found (in folder order) is kept,
// the other is reported as DUPLICATE_PLUGIN and dropped.
export default {
  init() {},
  start() {},
  stop() {},
};
