/**
 * A proxy over an implementation whose methods come wrapped: the service handles a consumer
 * gets (revoked with their scope) and the test kit's stand-ins (run as the test's code) are both
 * one. It stands on an empty target of its own (an empty object, or for a function a bound
 * function, callable and constructible, with no own `prototype`), so that even a frozen method can
 * be wrapped (a proxy must return a frozen property of its target as it is) and cannot be kept
 * and called around the wrapper.
 * @internal
 */
import { PluginFactoryError } from '../errors.ts';

export interface MethodProxyOptions {
  /** Runs before every use of the proxy, and before every call of a method read from it. */
  guard?: () => void;
  /** Runs each call (of a method, or of the implementation itself when it is a function). */
  invoke?: (call: () => unknown) => unknown;
  /**
   * `this` of a method call: the implementation always, or the caller's (the implementation
   * when called on the proxy).
   */
  self: 'impl' | 'caller';
}

/** Methods that call or bind the function they are called on. */
const FUNCTION_METHODS: ReadonlySet<unknown> = new Set([Function.prototype.bind, Function.prototype.call, Function.prototype.apply]);

export function methodProxy<T extends object>(impl: T, options: MethodProxyOptions): T {
  const guard = options.guard ?? (() => undefined);
  const invoke = options.invoke ?? ((call: () => unknown) => call());
  const callable = typeof impl === 'function';
  const methods = new WeakMap<Function, Function>();
  const wrap = (value: unknown): unknown => {
    if (typeof value !== 'function') return value;
    let wrapped = methods.get(value);
    if (!wrapped) {
      const method = value;
      wrapped = function (this: unknown, ...args: unknown[]) {
        guard();
        // `bind`, `call` or `apply` of a function service act on the proxy, not the implementation:
        // a bound copy must stay behind the guard, revoked with the handle.
        const onImpl = options.self === 'impl' || this === proxy;
        const self = onImpl ? (callable && FUNCTION_METHODS.has(method) ? proxy : impl) : this;
        return invoke(() => Reflect.apply(method, self, args));
      };
      methods.set(method, wrapped);
    }
    return wrapped;
  };
  const target = (callable ? function () {}.bind(null) : {}) as T;
  const proxy: T = new Proxy(target, {
    get(_target, key) {
      guard();
      return wrap(Reflect.get(impl, key, impl));
    },
    set: (_target, key, value) => (guard(), Reflect.set(impl, key, value, impl)),
    has: (_target, key) => (guard(), Reflect.has(impl, key)),
    ownKeys: () => (guard(), Reflect.ownKeys(impl)),
    getOwnPropertyDescriptor(_target, key) {
      guard();
      const descriptor = Reflect.getOwnPropertyDescriptor(impl, key);
      if (!descriptor) return descriptor;
      // Reported configurable: the empty target holds none of it, and its methods come wrapped.
      return 'value' in descriptor ? { ...descriptor, value: wrap(descriptor.value), configurable: true } : { ...descriptor, configurable: true };
    },
    defineProperty: (_target, key, descriptor) => (guard(), Reflect.defineProperty(impl, key, descriptor)),
    deleteProperty: (_target, key) => (guard(), Reflect.deleteProperty(impl, key)),
    getPrototypeOf: () => (guard(), Reflect.getPrototypeOf(impl)),
    setPrototypeOf: (_target, proto) => (guard(), Reflect.setPrototypeOf(impl, proto)),
    // The empty target must stay extensible for the traps above to report what `impl` holds.
    preventExtensions() {
      guard();
      throw new PluginFactoryError('ARGUMENT_INVALID', 'a service handle cannot be frozen, sealed or made non-extensible; freeze the implementation instead');
    },
    apply: (_target, self, args) => (guard(), invoke(() => Reflect.apply(impl as Function, self, args))),
    construct: (_target, args, newTarget) =>
      (guard(), Reflect.construct(impl as new (...a: unknown[]) => object, args, (newTarget === proxy ? impl : newTarget) as new (...a: unknown[]) => object)),
  });
  return proxy;
}
