import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../local/host/load';

const run = promisify(execFile);

describe('npm start -- --once', () => {
  it('runs the demo job, prints its report, writes it as JSON and exits 0', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-once-'));
    const reportFile = path.join(dir, 'report.json');
    const tsx = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    const { stdout } = await run(tsx, ['local/start.ts', '--once', '--users', '200', '--report', reportFile], { cwd: PROJECT_ROOT, timeout: 300_000 });
    expect(stdout).toContain('Demo job succeeded');
    const report = JSON.parse(readFileSync(reportFile, 'utf8'));
    expect(report.ok).toBe(true);
    expect(report.steps.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining([
        'onboard the demo customer with its whole configuration',
        'first full sync of the demo tenant',
        'flow-through provisioning of the synced users',
        'resource accounts counted apart from people',
        'a user moved between sites, as the preview said',
        'a leaver disabled in the tenant is offboarded',
      ]),
    );
    expect(report.sync.counts.users.added).toBe(200);
    expect(report.provisioning.users).toBe(200);
    expect(report.provisioning.byState.provisioned).toBeGreaterThan(100);
    const endpoints = JSON.parse(readFileSync(path.join(PROJECT_ROOT, '.local', 'endpoints.json'), 'utf8'));
    expect(endpoints).toMatchObject({ apiUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/api$/), functionKey: expect.any(String) });
  }, 360_000);

  it('refuses an unknown option with a clear message', async () => {
    const tsx = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'tsx');
    await expect(run(tsx, ['local/start.ts', '--bogus'], { cwd: PROJECT_ROOT })).rejects.toMatchObject({ stderr: expect.stringContaining("Unknown option '--bogus'") });
  });
});
