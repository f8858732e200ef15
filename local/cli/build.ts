/**
 * Builds the deployable function app: one CommonJS bundle per file in functions/, as Azure loads
 * `main` (dist/functions/*.js). Packages stay external and are installed by the deployment.
 */
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..');
const entryPoints = readdirSync(path.join(root, 'functions'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => path.join(root, 'functions', f));

build({
  entryPoints,
  outdir: path.join(root, 'dist', 'functions'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  sourcemap: true,
  logLevel: 'info',
}).catch(() => process.exit(1));
