/**
 * Loads a built function app the way the Azure Functions Node.js worker does (azure-functions-nodejs-worker
 * v3.x: setupCoreModule.ts, startApp.ts, loadScriptFile.ts, coreApi/registerFunction.ts,
 * eventHandlers/FunctionsMetadataHandler.ts and InvocationHandler.ts), then invokes HTTP functions as the
 * worker does. Run with plain `node` (no TypeScript hooks), as in Azure:
 *
 *   node azure-worker.cjs <app folder> [GET:<route> ...]
 *
 * It prints one JSON object: the functions the worker would report to the host, the entry-point error that
 * would block the app, and each invoked route's status and body.
 *
 * What it reproduces:
 * - `@azure/functions-core` is served by a Proxy over Module.prototype.require (nothing is installed);
 * - package.json is read, `main` and `type` kept only when strings; entry points are `globby` v11 over
 *   `main` with the app folder as cwd (an empty match is an error), loaded in that order with require();
 * - registerFunction takes `functionId || name`, refuses a second one with the worker's message, and is
 *   locked once the host asks for metadata; rawBindings are the bindings with their names;
 * - on Node 20+ an entry point that throws blocks the app: "Worker was unable to load entry point ...";
 * - an invocation builds the core context and runs the app's programming model: getInvocationModel,
 *   getArguments, invokeFunction, getResponse.
 * What it leaves out: the gRPC channel to the host, and the default programming model the worker's own
 * bundled library installs first (the app's @azure/functions replaces it on its first registration).
 */
const Module = require('node:module');
const fs = require('node:fs');
const path = require('node:path');
const { randomUUID } = require('node:crypto');
const globby = require('globby');

class AzFuncSystemError extends Error {}

const appDir = path.resolve(process.argv[2]);
const requests = process.argv.slice(3);

const app = { functions: {}, programmingModel: undefined, workerIndexingLocked: false, currentEntryPoint: undefined, blockingAppStartError: undefined, logs: [] };

class CoreDisposable {
  constructor(callback) {
    this.callback = callback;
  }
  dispose() {
    this.callback();
  }
}

function registerFunction(metadata, callback) {
  if (app.workerIndexingLocked) throw new AzFuncSystemError('A function can only be registered during app startup.');
  const functionId = metadata.functionId || metadata.name;
  if (functionId in app.functions) throw new AzFuncSystemError(`A function with id "${functionId}" has already been registered.`);
  const rawBindings = Object.entries(metadata.bindings).map(([name, binding]) => JSON.stringify({ ...binding, name }));
  const scriptFile = app.currentEntryPoint ? path.basename(app.currentEntryPoint) : 'unknown';
  app.functions[functionId] = { metadata: { ...metadata, functionId, rawBindings, scriptFile }, callback };
  return new CoreDisposable(() => {
    if (app.workerIndexingLocked) throw new AzFuncSystemError('A function can only be disposed during app startup.');
    delete app.functions[functionId];
  });
}

const coreApi = {
  version: '3.9.1',
  hostVersion: '4.1040.0',
  registerHook: () => new CoreDisposable(() => {}),
  setProgrammingModel: (model) => {
    app.programmingModel = model;
  },
  getProgrammingModel: () => app.programmingModel,
  log: (level, category, message) => app.logs.push({ level, category, message }),
  registerFunction,
  Disposable: CoreDisposable,
};

Module.prototype.require = new Proxy(Module.prototype.require, {
  apply(target, thisArg, argArray) {
    if (argArray[0] === '@azure/functions-core') return coreApi;
    return Reflect.apply(target, thisArg, argArray);
  },
});

function parsePackageJson(dir) {
  const data = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const field of ['main', 'type']) if (field in data && typeof data[field] !== 'string') delete data[field];
  return data;
}

async function startApp() {
  const packageJson = parsePackageJson(appDir);
  const pattern = packageJson.main;
  if (!pattern) return [];
  let currentFile;
  const files = [];
  try {
    const matched = await globby(pattern, { cwd: appDir });
    if (matched.length === 0) throw new AzFuncSystemError(globby.hasMagic(pattern, { cwd: appDir }) ? 'Found zero files matching the supplied pattern' : 'File does not exist');
    for (const file of matched) {
      currentFile = file;
      files.push(file);
      const entryPoint = path.join(appDir, file);
      app.currentEntryPoint = entryPoint;
      try {
        if (file.endsWith('.mjs') || (!file.endsWith('.cjs') && packageJson.type === 'module')) {
          await import(require('node:url').pathToFileURL(entryPoint).href);
        } else {
          require(entryPoint);
        }
      } finally {
        app.currentEntryPoint = undefined;
      }
    }
  } catch (err) {
    // Node 20 and later: an entry point that fails blocks the app.
    app.blockingAppStartError = `Worker was unable to load entry point "${currentFile || pattern}": ${err && err.message}`;
  }
  return files;
}

/** The worker's answer to the host's FunctionsMetadataRequest. */
function functionsMetadata() {
  app.workerIndexingLocked = true;
  if (app.blockingAppStartError) return undefined;
  return Object.values(app.functions).map((f) => ({
    name: f.metadata.name,
    functionId: f.metadata.functionId,
    scriptFile: f.metadata.scriptFile,
    bindings: f.metadata.rawBindings.map((b) => JSON.parse(b)),
  }));
}

/** An HTTP invocation as InvocationHandler runs it, for the function whose route and method match. */
async function invokeHttp(method, route) {
  const entry = Object.values(app.functions).find((f) => {
    const trigger = Object.values(f.metadata.bindings).find((b) => b.direction === 'in' && /Trigger$/i.test(b.type));
    return trigger && trigger.type === 'httpTrigger' && trigger.route === route && (trigger.methods || ['GET', 'POST']).map((m) => m.toUpperCase()).includes(method);
  });
  if (!entry) return { status: 404, body: `no function serves ${method} ${route}` };
  const triggerName = Object.entries(entry.metadata.bindings).find(([, b]) => /Trigger$/i.test(b.type))[0];
  const invocationId = randomUUID();
  // host.json's routePrefix is empty: each route names its own prefix (api/…, console/…).
  const url = `https://sitesync.azurewebsites.net/${route.replace(/\{\*\w+\}$/, '')}`;
  const coreCtx = {
    invocationId,
    request: {
      invocationId,
      functionId: entry.metadata.functionId,
      inputData: [{ name: triggerName, data: { http: { method, url, headers: { host: 'sitesync.azurewebsites.net' }, query: {}, params: {} } } }],
      triggerMetadata: {},
    },
    metadata: { name: entry.metadata.name, bindings: entry.metadata.bindings },
    state: undefined,
    log: (level, category, message) => app.logs.push({ level, category, message }),
  };
  const model = await app.programmingModel.getInvocationModel(coreCtx);
  const { context, inputs } = await model.getArguments();
  coreCtx.state = 'invocation';
  const result = await model.invokeFunction(context, inputs, entry.callback);
  coreCtx.state = undefined;
  const response = await model.getResponse(context, result);
  const http = response.returnValue && response.returnValue.http;
  const bytes = http && http.body && (http.body.bytes || http.body.string);
  return { status: http ? Number(http.statusCode) : undefined, headers: http && http.headers, body: bytes ? Buffer.from(bytes).toString('utf8') : undefined };
}

(async () => {
  const entryPoints = await startApp();
  const functions = functionsMetadata();
  const responses = {};
  if (functions) {
    for (const r of requests) {
      const [method, route] = r.split(/:(.*)/s);
      responses[r] = await invokeHttp(method.toUpperCase(), route);
    }
  }
  const out = JSON.stringify({ entryPoints, functions, error: app.blockingAppStartError, responses, programmingModel: app.programmingModel && `${app.programmingModel.name}@${app.programmingModel.version}` });
  // Exit once the whole answer is written (a pipe takes it in chunks): timers and clients the app opened at
  // load time must not keep the process alive.
  process.stdout.write(out, () => process.exit(0));
})().catch((err) => {
  process.stderr.write(String((err && err.stack) || err));
  process.exit(1);
});
