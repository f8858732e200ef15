/**
 * The deployed artefact is the tested artefact: `npm run build` is run as azd runs it, its dist/ is staged as
 * Azure would hold it (production dependencies only), and the Azure Functions Node.js worker's loading is
 * reproduced in a plain `node` process (support/azure-worker.cjs) to list what the host would see and to
 * ask the built app for its OpenAPI document.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFunctionApp, PROJECT_ROOT } from '../../local/host/load';

const run = promisify(execFile);
const DIST = path.join(PROJECT_ROOT, 'dist');
const WORKER = path.join(__dirname, 'support', 'azure-worker.cjs');

interface WorkerOutput {
  entryPoints: string[];
  functions?: Array<{ name: string; functionId: string; scriptFile: string; bindings: Array<{ name: string; type: string; direction: string; route?: string; methods?: string[] }> }>;
  error?: string;
  responses: Record<string, { status?: number; body?: string; headers?: Record<string, string> }>;
  programmingModel?: string;
}

async function loadLikeTheWorker(appDir: string, ...requests: string[]): Promise<WorkerOutput> {
  // Plain node, no TypeScript hooks, no inherited NODE_OPTIONS: what Azure starts.
  const { stdout } = await run(process.execPath, [WORKER, appDir, ...requests], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, maxBuffer: 32 * 1024 * 1024, timeout: 60_000 });
  return JSON.parse(stdout) as WorkerOutput;
}

/** dist/ as Azure holds it after a remote build: the files, and node_modules with the production packages only. */
function stage(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-deployed-'));
  cpSync(DIST, dir, { recursive: true });
  const lock = JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  mkdirSync(path.join(dir, 'node_modules', '@azure'), { recursive: true });
  for (const key of Object.keys(lock.packages)) {
    // Top-level packages only; nested ones come with their parent's folder.
    const name = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key)?.[1];
    if (!name) continue;
    const target = path.join(dir, 'node_modules', name);
    mkdirSync(path.dirname(target), { recursive: true });
    if (!existsSync(target)) symlinkSync(path.join(PROJECT_ROOT, 'node_modules', name), target, 'dir');
  }
  return dir;
}

const httpRoutes = (functions: NonNullable<WorkerOutput['functions']>) =>
  functions.flatMap((f) =>
    f.bindings
      .filter((b) => b.type === 'httpTrigger')
      .flatMap((b) => (b.methods ?? ['GET', 'POST']).map((m) => `${m.toUpperCase()} /${(b.route ?? f.name).replace(/\{(\w+)(:[A-Za-z]+)?\??\}/g, '{$1}')}`)),
  );

describe('the deployable bundle', () => {
  let staged: string;

  beforeAll(async () => {
    // What a build from an older layout leaves behind: an extra bundle that would register the same names.
    mkdirSync(path.join(DIST, 'functions'), { recursive: true });
    writeFileSync(path.join(DIST, 'functions', 'heartbeat.js'), "require('@azure/functions').app.timer('heartbeat', { schedule: '0 * * * * *', handler: () => {} });\n");
    await run('npm', ['run', 'build'], { cwd: PROJECT_ROOT, timeout: 120_000 });
    staged = stage();
  }, 180_000);

  it('empties dist/ and writes one artefact: the bundle, its map, package.json, the lock, host.json and the console', () => {
    expect(readdirSync(DIST).sort()).toEqual(['app.js', 'app.js.map', 'console', 'host.json', 'package-lock.json', 'package.json']);
    const project = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8'));
    const deployed = JSON.parse(readFileSync(path.join(DIST, 'package.json'), 'utf8'));
    expect(deployed.main).toBe('app.js');
    expect(deployed.dependencies).toEqual(project.dependencies);
    expect(deployed.devDependencies).toBeUndefined();
    expect(deployed.scripts).toBeUndefined();
    expect(project.main).toBe('dist/app.js');
    const lock = JSON.parse(readFileSync(path.join(DIST, 'package-lock.json'), 'utf8'));
    expect(lock.packages[''].devDependencies).toBeUndefined();
    // Nothing only development needs; a dev dependency stays only where a production package needs it too.
    expect(Object.entries(lock.packages).filter(([, p]) => (p as { dev?: boolean; devOptional?: boolean }).dev || (p as { devOptional?: boolean }).devOptional)).toEqual([]);
    for (const tool of ['vitest', 'esbuild', 'typescript', 'tsx', 'azurite', 'eslint']) expect(lock.packages[`node_modules/${tool}`], tool).toBeUndefined();
    expect(readFileSync(path.join(DIST, 'app.js'), 'utf8')).toMatch(/\/\/# sourceMappingURL=app\.js\.map\s*$/);
  });

  it('loads as the worker loads it: every function of the source registers once, with unique names and routes', async () => {
    const out = await loadLikeTheWorker(staged);
    expect(out.error).toBeUndefined();
    expect(out.entryPoints).toEqual(['app.js']);
    expect(out.programmingModel).toMatch(/^@azure\/functions@4\./);
    const names = out.functions!.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    const source = (await loadFunctionApp()).all().map((f) => f.name);
    expect([...names].sort()).toEqual([...source].sort());
    expect(out.functions!.every((f) => f.scriptFile === 'app.js')).toBe(true);
    const routes = httpRoutes(out.functions!);
    expect(new Set(routes).size).toBe(routes.length);
  });

  it('answers GET /api/openapi.json from the built app with every route it serves, and no other', async () => {
    const out = await loadLikeTheWorker(staged, 'GET:api/openapi.json');
    const response = out.responses['GET:api/openapi.json'];
    expect(response.status).toBe(200);
    const doc = JSON.parse(response.body!) as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    // The console's pages are served beside the API, not part of it.
    expect(documented.sort()).toEqual(httpRoutes(out.functions!).filter((r) => !r.includes(' /console/')).sort());
  });

  it('serves the operator console from the artefact, with its security policy', async () => {
    const out = await loadLikeTheWorker(staged, 'GET:console/{*path}');
    const page = out.responses['GET:console/{*path}'];
    expect(page.status).toBe(200);
    expect(page.body).toMatch(/<script type="module" crossorigin src="\/console\/assets\/index-[\w-]+\.js"><\/script>/);
    expect(page.headers?.['content-security-policy']).toMatch(/script-src 'self'/);
  });

  it('is found from the repository root as well (package.json main)', async () => {
    const out = await loadLikeTheWorker(PROJECT_ROOT);
    expect(out.error).toBeUndefined();
    expect(out.entryPoints).toEqual(['dist/app.js']);
  });

  it('a second bundle registering the same names blocks the app, as the worker refuses it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-twice-'));
    cpSync(staged, dir, { recursive: true, verbatimSymlinks: true });
    cpSync(path.join(dir, 'app.js'), path.join(dir, 'old.js'));
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkg, main: '*.js' }));
    const out = await loadLikeTheWorker(dir);
    expect(out.functions).toBeUndefined();
    expect(out.error).toMatch(/^Worker was unable to load entry point "old\.js": A function with id "[^"]+" has already been registered\.$/);
  });
});
