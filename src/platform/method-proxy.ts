/**
 * A proxy over an implementation whose methods come wrapped: the service handles a consumer
 * gets (revoked with their scope) and the test kit's stand-ins (run as the test's code) are both
 * one. It stands on an empty target of its own (an empty object, or for a function a bound
 * function, callable and constructible, with no own `prototype`), so that even a frozen method can
 * be wrapped (a proxy must return a frozen property of its target as it is) and cannot be kept
 * and called around the wrapper.
 *
 * A function read from it is such a proxy too, over that function: called, it runs behind the
 * guard; constructed (`new handle.Client()`), it builds an instance of the real class; its own
 * properties (`debug.enabled`, a class's statics, `name`) read through; `instanceof` against it
 * asks the real class. Other values (objects, primitives) are handed out as they are.
 * @internal
 */
import { PluginFactoryError } from '../errors.ts';

export interface MethodProxyOptions {
  /** Runs before every use of the proxy, and before every call of a method read from it. */
  guard?: () => void;
  /** Runs each call (of a method, or of the implementation itself when it is a function). */
  invoke?: (call: () => unknown) => unknown;
  /**
   * `this` of a method call: the object it was read from always, or the caller's (that object
   * when called on the proxy).
   */
  self: 'impl' | 'caller';
}

/** Methods that call or bind the function they are called on. */
const FUNCTION_METHODS: ReadonlySet<unknown> = new Set([Function.prototype.bind, Function.prototype.call, Function.prototype.apply]);

type Constructor = new (...args: unknown[]) => object;

export function methodProxy<T extends object>(impl: T, options: MethodProxyOptions): T {
  const guard = options.guard ?? (() => undefined);
  const invoke = options.invoke ?? ((call: () => unknown) => call());
  // Every proxy made here, and what it stands for: a call on one runs on the original.
  const originals = new WeakMap<object, object>();

  /**
   * The proxy over `original`. `holder`: the object a function was read from and its proxy; in
   * 'impl' mode the function's `this` when called on nothing else (none for the implementation
   * itself).
   */
  const proxyOf = <V extends object>(original: V, holder: { original: object; proxy: object } | null): V => {
    const callable = typeof original === 'function';
    // Functions read from this proxy, each wrapped once (the same one every time it is read).
    const members = new WeakMap<Function, Function>();
    const wrap = (value: unknown): unknown => {
      if (typeof value !== 'function') return value;
      let wrapped = members.get(value);
      if (!wrapped) {
        wrapped = proxyOf(value, { original, proxy });
        members.set(value, wrapped);
      }
      return wrapped;
    };
    /** `this` of a call of `original` made with `self`. */
    const thisFor = (self: unknown): unknown => {
      if (typeof self === 'object' || typeof self === 'function') {
        const standsFor = self === null ? undefined : originals.get(self);
        if (standsFor !== undefined) {
          // `bind`, `call` or `apply` of a function behind a proxy act on the proxy: a bound copy
          // must stay behind the guard, revoked with the handle.
          return typeof standsFor === 'function' && FUNCTION_METHODS.has(original) ? self : standsFor;
        }
      }
      if (options.self !== 'impl' || holder === null) return self;
      // A `bind`, `call` or `apply` called on nothing acts on the function it was read from, behind
      // its proxy as above.
      return typeof holder.original === 'function' && FUNCTION_METHODS.has(original) ? holder.proxy : holder.original;
    };
    const target = (callable ? function () {}.bind(null) : {}) as V;
    const proxy: V = new Proxy(target, {
      get(_target, key) {
        guard();
        return wrap(Reflect.get(original, key, original));
      },
      set: (_target, key, value) => (guard(), Reflect.set(original, key, value, original)),
      has: (_target, key) => (guard(), Reflect.has(original, key)),
      ownKeys: () => (guard(), Reflect.ownKeys(original)),
      getOwnPropertyDescriptor(_target, key) {
        guard();
        const descriptor = Reflect.getOwnPropertyDescriptor(original, key);
        if (!descriptor) return descriptor;
        // Reported configurable: the empty target holds none of it, and its methods come wrapped.
        return 'value' in descriptor ? { ...descriptor, value: wrap(descriptor.value), configurable: true } : { ...descriptor, configurable: true };
      },
      defineProperty(_target, key, descriptor) {
        guard();
        // The empty target cannot hold a non-configurable property, and a proxy may not report one
        // it does not hold: refused before the implementation is touched.
        if (descriptor.configurable === false) {
          throw new PluginFactoryError('ARGUMENT_INVALID', 'a service handle cannot take a non-configurable property; define it on the implementation instead');
        }
        return Reflect.defineProperty(original, key, descriptor);
      },
      deleteProperty: (_target, key) => (guard(), Reflect.deleteProperty(original, key)),
      getPrototypeOf: () => (guard(), Reflect.getPrototypeOf(original)),
      setPrototypeOf: (_target, proto) => (guard(), Reflect.setPrototypeOf(original, proto)),
      // The empty target must stay extensible for the traps above to report what `original` holds.
      preventExtensions() {
        guard();
        throw new PluginFactoryError('ARGUMENT_INVALID', 'a service handle cannot be frozen, sealed or made non-extensible; freeze the implementation instead');
      },
      apply: (_target, self, args) => (guard(), invoke(() => Reflect.apply(original as Function, thisFor(self), args))),
      construct: (_target, args, newTarget) =>
        (guard(), invoke(() => Reflect.construct(original as unknown as Constructor, args, (newTarget === proxy ? original : newTarget) as Constructor))) as object,
    });
    originals.set(proxy, original);
    return proxy;
  };
  return proxyOf(impl, null);
}
