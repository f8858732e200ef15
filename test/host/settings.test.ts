/**
 * The local runtime's settings order, as the README documents it: flag > environment > local.settings.json >
 * built-in default, with an empty value counting as unset and local.settings.sample.json never read.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLocalSettings, resolveSettings } from '../../local/settings';
import { startLocalStack } from '../../local/stack';
import { parseStartOptions, UsageError } from '../../local/startOptions';
import { readSettings } from '../../shared/config/settings';

const A = { flag: 'https://flag.example.test', env: 'https://env.example.test', file: 'https://file.example.test', default: 'https://default.example.test' };

function folderWith(values: Record<string, string> | undefined): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sitesync-settings-'));
  if (values) writeFileSync(path.join(dir, 'local.settings.json'), JSON.stringify({ IsEncrypted: false, Values: values }));
  return dir;
}

describe('settings order', () => {
  it('takes each setting from the first layer that gives it: flag, environment, local.settings.json, default', () => {
    const name = 'SITESYNC_AUTHORITY_HOST';
    const layers = { flags: { [name]: A.flag }, environment: { [name]: A.env }, file: { [name]: A.file }, defaults: { [name]: A.default } };
    expect(resolveSettings(layers, [name])).toEqual({ values: { [name]: A.flag }, sources: { [name]: 'flags' } });
    expect(resolveSettings({ ...layers, flags: {} }, [name]).values[name]).toBe(A.env);
    expect(resolveSettings({ ...layers, flags: {}, environment: {} }, [name]).values[name]).toBe(A.file);
    expect(resolveSettings({ defaults: layers.defaults }, [name]).sources[name]).toBe('defaults');
  });

  it('counts an empty value as unset in every layer, as the Functions Core Tools do', () => {
    const name = 'SITESYNC_TEAMS_BRIDGE_URL';
    expect(resolveSettings({ flags: { [name]: '' }, environment: { [name]: '' }, file: { [name]: A.file } }, [name]).values[name]).toBe(A.file);
    expect(resolveSettings({ environment: { [name]: '' } }, [name]).values).toEqual({});
    // The app's own defaults apply to what is left unset or empty.
    expect(readSettings({ SITESYNC_AUTHORITY_HOST: '', SITESYNC_TEAMS_BRIDGE_URL: '' })).toMatchObject({ SITESYNC_AUTHORITY_HOST: 'https://login.microsoftonline.com' });
    expect(readSettings({ SITESYNC_TEAMS_BRIDGE_URL: '' }).SITESYNC_TEAMS_BRIDGE_URL).toBeUndefined();
  });

  it('reads local.settings.json only: the sample is a template, never a source', () => {
    expect(readLocalSettings(folderWith(undefined))).toEqual({});
    const dir = folderWith({ SITESYNC_GRAPH_CA_FILE: '', SITESYNC_TEAMS_BRIDGE_URL: A.file });
    writeFileSync(path.join(dir, 'local.settings.sample.json'), JSON.stringify({ Values: { SITESYNC_AUTHORITY_HOST: A.default } }));
    expect(readLocalSettings(dir)).toEqual({ SITESYNC_TEAMS_BRIDGE_URL: A.file });
  });

  it('npm start: --tenant-id and --client-id win over the environment, which wins over local.settings.json; the secret never comes from a flag', () => {
    const env = { SITESYNC_TENANT_ID: 'env-tenant', SITESYNC_CLIENT_ID: 'env-client', SITESYNC_CLIENT_SECRET: 's' };
    const file = { SITESYNC_TENANT_ID: 'file-tenant', SITESYNC_CLIENT_ID: 'file-client' };
    const fromFlags = parseStartOptions(['--graph-url', A.flag, '--tenant-id', 'flag-tenant'], { environment: env, file });
    expect(fromFlags.external?.tenant).toEqual({ tenantId: 'flag-tenant', clientId: 'env-client', credentialReference: 'env:SITESYNC_SECRET_OWN_TENANT' });
    expect(parseStartOptions(['--graph-url', A.flag], { environment: { SITESYNC_CLIENT_SECRET: 's' }, file }).external?.tenant.tenantId).toBe('file-tenant');
    expect(() => parseStartOptions(['--graph-url', A.flag], { environment: {}, file })).toThrow(UsageError);
    expect(() => parseStartOptions(['--client-secret', 'x'], {})).toThrow(UsageError);
    expect(() => parseStartOptions(['--graph-url', 'not a url', '--tenant-id', 't', '--client-id', 'c'], { environment: env })).toThrow(/--graph-url must be a URL/);
  });

  it('the stack applies the order to the Microsoft side and puts the environment back when it stops', async () => {
    const before = process.env.SITESYNC_AUTHORITY_HOST;
    const settingsRoot = folderWith({ SITESYNC_AUTHORITY_HOST: A.file, SITESYNC_TEAMS_BRIDGE_URL: A.file, SITESYNC_GRAPH_CA_FILE: '' });
    const start = (environment: Record<string, string>, authorityHost?: string) =>
      startLocalStack({ settingsRoot, environment, without: ['durable', 'serviceBus'], enableTimers: false, graph: { external: { graphBaseUrl: A.flag, authorityHost } } });

    const flagged = await start({ SITESYNC_AUTHORITY_HOST: A.env }, 'https://authority.flag.example.test');
    try {
      expect(flagged.settings).toMatchObject({ SITESYNC_GRAPH_BASE_URL: A.flag, SITESYNC_AUTHORITY_HOST: 'https://authority.flag.example.test', SITESYNC_TEAMS_BRIDGE_URL: A.file });
      expect(flagged.settings.SITESYNC_GRAPH_CA_FILE).toBeUndefined();
      expect(process.env.SITESYNC_AUTHORITY_HOST).toBe('https://authority.flag.example.test');
      // Unset, the webhook URL defaults to the host's own address.
      expect(flagged.settings.SITESYNC_WEBHOOK_BASE_URL).toBe(flagged.host.url);
    } finally {
      await flagged.stop();
    }
    expect(process.env.SITESYNC_AUTHORITY_HOST).toBe(before);

    const fromEnv = await start({ SITESYNC_AUTHORITY_HOST: A.env, SITESYNC_WEBHOOK_BASE_URL: 'https://public.example.test' });
    try {
      expect(fromEnv.settings).toMatchObject({ SITESYNC_AUTHORITY_HOST: A.env, SITESYNC_WEBHOOK_BASE_URL: 'https://public.example.test' });
    } finally {
      await fromEnv.stop();
    }
    const fromFile = await start({});
    try {
      expect(fromFile.settings.SITESYNC_AUTHORITY_HOST).toBe(A.file);
    } finally {
      await fromFile.stop();
    }
    const bare = await startLocalStack({ settingsRoot: folderWith(undefined), environment: {}, without: ['durable', 'serviceBus'], enableTimers: false, graph: { external: { graphBaseUrl: A.flag } } });
    try {
      // Nothing given: Microsoft's authority, no bridge, no extra CA.
      expect(bare.settings.SITESYNC_AUTHORITY_HOST).toBeUndefined();
      expect(readSettings(bare.settings).SITESYNC_AUTHORITY_HOST).toBe('https://login.microsoftonline.com');
      expect(bare.settings.SITESYNC_TEAMS_BRIDGE_URL).toBeUndefined();
      expect(bare.settings.SITESYNC_GRAPH_CA_FILE).toBeUndefined();
    } finally {
      await bare.stop();
    }
  });
});
