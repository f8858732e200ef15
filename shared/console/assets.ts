/**
 * The operator's console as the function app serves it: the files Vite built, read once
 * into memory, with the headers a single-page app needs. Files under `assets/` carry a content hash in their
 * name and are cached for a year; the page itself is revalidated on every load so a deployment shows at once.
 * Every other path under the console answers with the page (the app routes in the browser).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ConsoleFile {
  body: Buffer;
  contentType: string;
  etag: string;
  immutable: boolean;
}

export interface ConsoleAssets {
  dir: string;
  index: ConsoleFile;
  files: Map<string, ConsoleFile>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Where the built console is: beside the bundle in the deployed app (`app.js` → `console/`), or in
 * `console/dist` when the functions run from source. Vite's manifest marks a build, so the console's source
 * folder is never taken for it.
 */
export function findConsoleDir(codeDir: string): string | undefined {
  const candidates = [path.join(codeDir, 'console'), path.join(codeDir, '..', 'console', 'dist')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html')) && existsSync(path.join(dir, '.vite', 'manifest.json')));
}

export function loadConsoleAssets(dir: string): ConsoleAssets {
  const files = new Map<string, ConsoleFile>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel))) {
      if (name.startsWith('.')) continue;
      const relPath = rel ? `${rel}/${name}` : name;
      const full = path.join(dir, relPath);
      if (statSync(full).isDirectory()) walk(relPath);
      else files.set(relPath, fileOf(full, relPath.startsWith('assets/')));
    }
  };
  walk('');
  const index = files.get('index.html');
  if (!index) throw new Error(`the console build in ${dir} has no index.html`);
  return { dir, index, files };
}

function fileOf(full: string, immutable: boolean): ConsoleFile {
  const body = readFileSync(full);
  return {
    body,
    contentType: TYPES[path.extname(full).toLowerCase()] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    immutable,
  };
}

/**
 * No inline script or style anywhere: the page loads one script and one stylesheet of its own, and talks
 * only to its own origin.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface ConsoleRequest {
  method: string;
  /** The path after `/console/`, decoded. */
  path: string;
  ifNoneMatch?: string | null;
}

export interface ConsoleResponse {
  status: number;
  headers: Record<string, string>;
  body?: Buffer | string;
}

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

export function serveConsole(assets: ConsoleAssets, request: ConsoleRequest): ConsoleResponse {
  const rel = request.path.replace(/^\/+/, '');
  const isAsset = rel.startsWith('assets/') || /\.[a-z0-9]{2,5}$/i.test(rel);
  const file = rel === '' ? assets.index : assets.files.get(rel);
  if (!file && isAsset) {
    return { status: 404, headers: { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }, body: 'Not found' };
  }
  const served = file ?? assets.index;
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    'content-type': served.contentType,
    etag: served.etag,
    'cache-control': served.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
  if (request.ifNoneMatch && request.ifNoneMatch.split(',').some((t) => t.trim() === served.etag)) return { status: 304, headers };
  return { status: 200, headers, body: request.method === 'HEAD' ? undefined : served.body };
}
