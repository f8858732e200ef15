import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { installFunctionsCore, type FunctionRegistry } from './registry';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Loads every function file under `functions/`, as the built bundle (`dist/app.js`, package.json `main`) holds them,
 * after the stand-in is installed so that no registration is lost. Loading twice is harmless:
 * modules are cached, so each registration happens once per process.
 */
export async function loadFunctionApp(functionsDir = path.join(PROJECT_ROOT, 'functions')): Promise<FunctionRegistry> {
  const registry = installFunctionsCore();
  const files = readdirSync(functionsDir)
    .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
    .sort();
  for (const file of files) await import(pathToFileURL(path.join(functionsDir, file)).href);
  return registry;
}
