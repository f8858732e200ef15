/**
 * `npm run build`: the deployable function app, whole, in dist/ (emptied first, so nothing of an earlier
 * build is left for the worker to load twice):
 *
 *   app.js, app.js.map   every functions/*.ts in one CommonJS bundle, so the app has one route registry (the
 *                        OpenAPI document lists every route), one Graph pacer per tenant and one set of
 *                        caches per process; packages stay external
 *   package.json         main "app.js", the production dependencies and nothing else: no scripts (a remote
 *                        build only installs), no devDependencies (they never reach Azure)
 *   package-lock.json    the project's lock without its dev-only packages, so Azure installs the same versions
 *   host.json            the host's configuration
 *   console/             the operator's console, as Vite built it (console/dist), served by the `console` function
 *
 * azure.yaml deploys dist/ (`dist: dist`). The project's own package.json names the same entry point
 * (`main: dist/app.js`), so the worker finds it from the repository root too.
 */
import { build } from 'esbuild';
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { buildConsole } from './console';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const DIST = path.join(ROOT, 'dist');
export const ENTRY_POINT = 'app.js';

interface PackageJson {
  name: string;
  version: string;
  description?: string;
  main?: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  [field: string]: unknown;
}

interface PackageLock {
  lockfileVersion: number;
  packages: Record<string, { dev?: boolean; devOptional?: boolean; devDependencies?: unknown; [field: string]: unknown }>;
  [field: string]: unknown;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;
const writeJson = (file: string, value: unknown) => writeFileSync(file, JSON.stringify(value, null, 2) + '\n');

/** The deployed package.json: what the worker and a remote build need, nothing more. */
export function deployedPackageJson(project: PackageJson): PackageJson {
  return {
    name: project.name,
    version: project.version,
    ...(project.description ? { description: project.description } : {}),
    private: true,
    main: ENTRY_POINT,
    ...(project.engines ? { engines: project.engines } : {}),
    dependencies: project.dependencies ?? {},
  };
}

/** The lock without the packages only development needs (npm marks them `dev` or `devOptional`). */
export function productionLock(lock: PackageLock): PackageLock {
  const packages: PackageLock['packages'] = {};
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (key === '') {
      const { devDependencies: _dev, ...root } = entry;
      packages[key] = root;
      continue;
    }
    if (entry.dev || entry.devOptional) continue;
    packages[key] = entry;
  }
  return { ...lock, packages };
}

export async function buildApp(): Promise<void> {
  rmSync(DIST, { recursive: true, force: true });
  mkdirSync(DIST, { recursive: true });
  const files = readdirSync(path.join(ROOT, 'functions'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort();
  await build({
    stdin: {
      // The same order the local host loads them in (local/host/load.ts).
      contents: files.map((f) => `import './functions/${f.replace(/\.ts$/, '')}';`).join('\n'),
      resolveDir: ROOT,
      sourcefile: 'app.ts',
      loader: 'ts',
    },
    outfile: path.join(DIST, ENTRY_POINT),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  const project = readJson<PackageJson>(path.join(ROOT, 'package.json'));
  writeJson(path.join(DIST, 'package.json'), deployedPackageJson(project));
  writeJson(path.join(DIST, 'package-lock.json'), productionLock(readJson<PackageLock>(path.join(ROOT, 'package-lock.json'))));
  copyFileSync(path.join(ROOT, 'host.json'), path.join(DIST, 'host.json'));
  const consoleBuild = await buildConsole({ ifStale: true, quiet: true });
  cpSync(consoleBuild.dir, path.join(DIST, 'console'), { recursive: true });
  console.log(`dist/${ENTRY_POINT}: ${files.length} function files in one bundle; dist/ is the deployable app`);
}

if (require.main === module) {
  buildApp().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
