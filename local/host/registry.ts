/**
 * A stand-in for the `@azure/functions-core` module that the Functions worker injects in Azure.
 * `@azure/functions` requires it lazily on the first `app.*` call; without it the library drops every
 * registration ("test mode"). Installing this before the function app loads captures each registration
 * with its binding metadata and its real callback, so the local host runs the same code unchanged.
 */
import Module from 'node:module';

export interface BindingMetadata {
  type: string;
  direction: 'in' | 'out' | 'inout';
  name: string;
  [property: string]: unknown;
}

export interface FunctionMetadata {
  name: string;
  bindings: Record<string, BindingMetadata>;
  retryOptions?: unknown;
}

/** The callback `@azure/functions` hands over: the user's handler (Durable wraps its own). */
export type FunctionCallback = (...args: unknown[]) => unknown;

export interface RegisteredFunction {
  name: string;
  metadata: FunctionMetadata;
  callback: FunctionCallback;
  /** The one binding whose type ends in `Trigger`. */
  trigger: BindingMetadata;
}

export class FunctionRegistry {
  private readonly byName = new Map<string, RegisteredFunction>();

  register(metadata: FunctionMetadata, callback: FunctionCallback): void {
    const trigger = Object.values(metadata.bindings).find((b) => b.direction === 'in' && /Trigger$/.test(b.type));
    if (!trigger) throw new Error(`Function "${metadata.name}" has no trigger binding`);
    if (this.byName.has(metadata.name)) throw new Error(`Function "${metadata.name}" is registered twice`);
    // The binding's own key is its name; the metadata copies keep it explicit for consumers.
    for (const [key, binding] of Object.entries(metadata.bindings)) binding.name ??= key;
    this.byName.set(metadata.name, { name: metadata.name, metadata, callback, trigger });
  }

  get(name: string): RegisteredFunction | undefined {
    return this.byName.get(name);
  }

  require(name: string): RegisteredFunction {
    const fn = this.byName.get(name);
    if (!fn) throw new Error(`No function named "${name}" is registered`);
    return fn;
  }

  all(): RegisteredFunction[] {
    return [...this.byName.values()];
  }

  byTrigger(type: string): RegisteredFunction[] {
    return this.all().filter((f) => f.trigger.type === type);
  }
}

interface CoreStandIn {
  registry: FunctionRegistry;
  programmingModel: unknown;
  setProgrammingModel(model: unknown): void;
  getProgrammingModel(): unknown;
  registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): { dispose(): void };
  registerHook(name: string, callback: unknown): { dispose(): void };
  log(level: string, category: string, message: string): void;
}

const GLOBAL_KEY = Symbol.for('sitesync.functions-core');
type GlobalWithCore = typeof globalThis & { [GLOBAL_KEY]?: CoreStandIn };

/**
 * Installs the stand-in (once per process) and returns the registry that every later
 * `app.*` / `df.app.*` call fills.
 */
export function installFunctionsCore(): FunctionRegistry {
  const g = globalThis as GlobalWithCore;
  const existing = g[GLOBAL_KEY];
  if (existing) return existing.registry;

  const core: CoreStandIn = {
    registry: new FunctionRegistry(),
    programmingModel: undefined,
    setProgrammingModel(model) {
      this.programmingModel = model;
    },
    getProgrammingModel() {
      return this.programmingModel;
    },
    registerFunction(metadata, callback) {
      this.registry.register(metadata, callback);
      return { dispose() {} };
    },
    registerHook() {
      return { dispose() {} };
    },
    log() {},
  };
  g[GLOBAL_KEY] = core;

  // Module._load is not in the public typings; it is the hook every module mocker uses.
  const loader = Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown };
  const original = loader._load;
  loader._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === '@azure/functions-core') return core;
    return original.call(this, request, parent, isMain);
  };
  return core.registry;
}
