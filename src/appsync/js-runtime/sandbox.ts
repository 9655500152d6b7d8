/**
 * The `node:vm` realm resolver code runs in, and the bridge between it and host code.
 *
 * Design: values cross the boundary as *copies made in the receiving realm*. Host functions (the `util`
 * implementation) are reached only through wrapper functions created inside the realm, and their results are
 * rebuilt with the realm's own `JSON.parse`. So resolver code sees only objects of its own realm (`instanceof
 * Array` works on `ctx.args.list` and on `util.dynamodb.toMapValues(...)`), and cannot walk from a host object's
 * `constructor` to the host `Function` and from there to `process`. This is about fidelity (a resolver that
 * touches Node APIs must fail locally as it fails on AWS), not a security boundary: `node:vm` is not one.
 */
import { format } from 'node:util';
import vm from 'node:vm';
import type { ApiFunction, ApiTree } from './util.ts';

/**
 * Receives the resolver's `console.*` output (AppSync sends it to CloudWatch Logs). Structurally a subset of
 * the domain `Logger`, so the application logger can be passed as it is.
 */
export interface ResolverLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** `console` methods offered to resolvers, and the logger method each one goes to. */
const CONSOLE_METHODS = { log: 'info', info: 'info', debug: 'debug', warn: 'warn', error: 'error' } as const;

/**
 * Globals V8 provides that APPSYNC_JS does not: async/Promises were left out on purpose (R21), and
 * WebAssembly, shared memory and weak references have no place in a request/response handler. The full list
 * of globals AppSync offers is not published; everything else of ECMAScript stays. UNCONFIRMED.
 */
const REMOVED_GLOBALS = [
  'Promise',
  'WebAssembly',
  'SharedArrayBuffer',
  'Atomics',
  'WeakRef',
  'FinalizationRegistry',
];

/** Opaque handle on a realm object. */
export type RealmObject = Record<string, unknown>;

/** A realm plus the helpers to move data and functions into it. */
export class Sandbox {
  readonly file: string;
  private readonly context: vm.Context;
  private readonly realmParse: (json: string) => unknown;
  private readonly makeWrapper: (id: number) => (...args: unknown[]) => unknown;
  private readonly functions: ApiFunction[] = [];

  constructor(file: string) {
    this.file = file;
    // No code generation from strings: AppSync has no eval / new Function, and it keeps the realm closed.
    this.context = vm.createContext(
      {},
      { name: `appsync-js ${file}`, codeGeneration: { strings: false, wasm: false } },
    );
    vm.runInContext(
      `for (const name of ${JSON.stringify(REMOVED_GLOBALS)}) delete globalThis[name];`,
      this.context,
    );
    this.realmParse = vm.runInContext('(json) => JSON.parse(json)', this.context) as (
      json: string,
    ) => unknown;
    const call = (id: number, args: unknown[]): unknown => {
      const fn = this.functions[id];
      if (!fn) throw new Error(`sandbox bridge: no function #${id}`);
      return this.toRealm(fn(...args));
    };
    // The wrapper keeps `call` in its closure only; closures are not reachable from resolver code.
    this.makeWrapper = vm.runInContext(
      '(call) => (id) => function (...args) { return call(id, args); }',
      this.context,
    )(call) as (id: number) => (...args: unknown[]) => unknown;
  }

  /** Copies plain data into the realm (primitives pass as they are). */
  toRealm(value: unknown): unknown {
    if (value === null || typeof value !== 'object') return value;
    return this.realmParse(JSON.stringify(value));
  }

  /** A realm function that calls `fn` with realm arguments and returns a realm copy of its result. */
  exposeFunction(fn: ApiFunction): unknown {
    this.functions.push(fn);
    return this.makeWrapper(this.functions.length - 1);
  }

  /** Mirrors a tree of host functions as a frozen realm object. */
  expose(tree: ApiTree): RealmObject {
    const target = this.toRealm({}) as RealmObject;
    for (const [name, member] of Object.entries(tree)) {
      target[name] = typeof member === 'function' ? this.exposeFunction(member) : this.expose(member);
    }
    return Object.freeze(target);
  }

  /** Defines a global of the realm. */
  setGlobal(name: string, value: unknown): void {
    Object.defineProperty(this.context, name, {
      value,
      writable: false,
      enumerable: false,
      configurable: false,
    });
  }

  /** Installs a `console` whose output goes to `logger`. */
  installConsole(logger: ResolverLogger | undefined): void {
    const tree: ApiTree = {};
    for (const [method, level] of Object.entries(CONSOLE_METHODS)) {
      tree[method] = (...args: unknown[]) => {
        logger?.[level](format(...args), { resolverFile: this.file });
      };
    }
    this.setGlobal('console', this.expose(tree));
  }

  /**
   * Compiles CommonJS code into a factory that evaluates the module body afresh on each call and returns its
   * `module.exports`. `modules` maps the ids the code may `require` to realm objects; any other id goes to
   * `missing`, which is expected to throw.
   */
  compileCommonJs(
    code: string,
    modules: Record<string, RealmObject>,
    missing: (id: string) => never,
  ): () => RealmObject {
    const registry = this.toRealm({}) as RealmObject;
    for (const [id, mod] of Object.entries(modules)) registry[id] = mod;
    const onMissing = this.exposeFunction(missing);
    // Kept on the first line so the bundle's inline source map still lines up (only line 1 columns shift).
    // "use strict": AppSync always runs resolver code in strict mode (R20).
    const wrapper = vm.runInContext(
      `(function (exports, require, module) {"use strict";${code}\n})`,
      this.context,
      {
        filename: this.file,
      },
    ) as (exports: unknown, require: unknown, module: unknown) => void;
    const makeRequire = vm.runInContext(
      '(registry, missing) => function require(id) { return Object.hasOwn(registry, id) ? registry[id] : missing(id); }',
      this.context,
    ) as (registry: RealmObject, missing: unknown) => unknown;
    const require = makeRequire(Object.freeze(registry), onMissing);
    return () => {
      const module = this.toRealm({ exports: {} }) as { exports: RealmObject };
      wrapper(module.exports, require, module);
      return module.exports;
    };
  }
}
