/**
 * Debian's Chromium for the browser tests, driven by playwright-core (which downloads no browser of its own).
 * `npm test` runs this file first: it installs the `chromium` package with apt-get when it is missing
 * (refreshing the package lists when they are empty or stale), and stops with a clear message when it cannot.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

function run(command: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Installs Debian's chromium when it is not there; returns what it did. Throws with the reason when it cannot. */
export function ensureChromium(log: (line: string) => void = () => undefined): 'present' | 'installed' {
  if (existsSync(CHROMIUM)) return 'present';
  if (process.platform !== 'linux' || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM}: install your system's chromium package (on Debian: apt-get install chromium).`);
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`The browser tests need Chromium at ${CHROMIUM}, and installing it needs root: run "sudo apt-get install -y chromium", then npm test again.`);
  }
  log('installing Debian chromium for the browser tests (apt-get install chromium)…');
  let install = run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  if (!install.ok) {
    // A fresh machine often has no package lists yet, or stale ones whose files are gone from the mirror.
    log('refreshing the package lists (apt-get update)…');
    const update = run('apt-get', ['update']);
    if (!update.ok) throw new Error(`apt-get update failed, so Chromium cannot be installed for the browser tests:\n${update.output.slice(-2000)}`);
    install = run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium']);
  }
  if (!install.ok || !existsSync(CHROMIUM)) throw new Error(`apt-get install chromium failed, so the browser tests cannot run:\n${install.output.slice(-2000)}`);
  log(`chromium installed: ${run(CHROMIUM, ['--version']).output.trim()}`);
  return 'installed';
}

export interface LaunchedBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Headless Chromium with none of its own network traffic (these machines reach no internet). Playwright
 * starts every launch on a fresh, empty profile of its own (it refuses --user-data-dir in args).
 */
export async function launchChromium(): Promise<LaunchedBrowser> {
  ensureChromium();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close().catch(() => undefined);
    },
  };
}

if (require.main === module) {
  try {
    const outcome = ensureChromium((line) => console.log(line));
    if (outcome === 'installed') console.log('chromium ready for the browser tests');
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
