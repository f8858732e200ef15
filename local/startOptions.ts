/**
 * The command line of `npm start`, checked before anything starts: a wrong option or a missing setting is a
 * UsageError (exit code 2). Settings named here follow the runtime's one order: flag, environment,
 * local.settings.json, default (local/settings.ts).
 */
import { parseArgs } from 'node:util';
import { resolveSetting, type SettingLayers } from './settings';

export const USAGE = `Usage: npm start -- [options]
  --once               exit after the demo job (1 if any step failed) instead of running on
  --report FILE        also write the demo job's report as JSON to FILE
  --port N             HTTP port of the function host (default 7071; 0 = any free port)
  --persist            keep Table Storage in .local/data instead of memory
  --users N            size of the emulator's demo tenant (10 to 200000, default 2000)
  --instances N        run N instances of the function app (host processes, 1 to 16, default 1) on one
                       task hub, broker and Table Storage, behind one address, as Azure scales out
  --scale-groups       run HTTP triggers, Durable functions and each other trigger in processes of
                       their own (Flex Consumption's per-function scaling), --instances of each
  --verbose            print every function log line
  --help               this text

Your own tenant instead of the emulator (README, "Sync your own tenant"); the job reads its users and
licenses and changes none of them:
  --graph-url URL      the Graph endpoint, e.g. https://graph.microsoft.com
  --tenant-id ID       the tenant to sync (or SITESYNC_TENANT_ID)
  --client-id ID       the app registration consented in it (or SITESYNC_CLIENT_ID)
                       the app's client secret comes from SITESYNC_CLIENT_SECRET, never a flag
  --authority-host URL the token authority (default https://login.microsoftonline.com)
  --graph-ca FILE      a PEM file of a CA to trust besides the system's
  --bridge-url URL     the Teams admin bridge (default none: dial plans and policies are skipped)

Each setting is taken from, in order: its flag, the environment, local.settings.json, the default.
Exit codes: 0 done, 1 a step failed, 2 a wrong option or a missing setting (nothing started).`;

/** A mistake on the command line or a missing setting: reported before anything starts, exit code 2. */
export class UsageError extends Error {}

export const OWN_TENANT_CUSTOMER_ID = 'own-tenant';

export interface StartOptions {
  once: boolean;
  report?: string;
  port: number;
  persist: boolean;
  users: number;
  instances: number;
  scaleGroups: boolean;
  verbose: boolean;
  help: boolean;
  external?: {
    customerId: string;
    graphUrl: string;
    authorityHost?: string;
    caFile?: string;
    bridgeUrl?: string;
    tenant: { tenantId: string; clientId: string; credentialReference: string };
    /** The client secret, handed to the host under OWN_TENANT_SECRET_SETTING (in memory only). */
    secret: string;
  };
}

export const CLIENT_SECRET_SETTING = 'SITESYNC_CLIENT_SECRET';
/** The host's setting for the own tenant's secret: env: references may name only SITESYNC_SECRET_ settings. */
export const OWN_TENANT_SECRET_SETTING = 'SITESYNC_SECRET_OWN_TENANT';

export function parseStartOptions(argv: string[], layers: Omit<SettingLayers, 'flags'>): StartOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        once: { type: 'boolean', default: false },
        report: { type: 'string' },
        port: { type: 'string' },
        persist: { type: 'boolean', default: false },
        users: { type: 'string' },
        instances: { type: 'string' },
        'scale-groups': { type: 'boolean', default: false },
        'graph-url': { type: 'string' },
        'graph-ca': { type: 'string' },
        'authority-host': { type: 'string' },
        'bridge-url': { type: 'string' },
        'tenant-id': { type: 'string' },
        'client-id': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const port = values.port === undefined ? (values.once ? 0 : 7071) : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number, not "${values.port}"`);
  const users = values.users === undefined ? 2_000 : Number(values.users);
  if (!Number.isInteger(users) || users < 10 || users > 200_000) throw new UsageError(`--users must be a whole number from 10 to 200000, not "${values.users}"`);
  const instances = values.instances === undefined ? 1 : Number(values.instances);
  if (!Number.isInteger(instances) || instances < 1 || instances > 16) throw new UsageError(`--instances must be a whole number from 1 to 16, not "${values.instances}"`);
  const options: StartOptions = { once: values.once, report: values.report, port, persist: values.persist, users, instances, scaleGroups: values['scale-groups'], verbose: values.verbose, help: values.help };

  const graphUrl = values['graph-url'];
  const tenantFlags = (['tenant-id', 'client-id', 'authority-host', 'graph-ca', 'bridge-url'] as const).filter((f) => values[f] !== undefined);
  if (!graphUrl) {
    if (tenantFlags.length > 0) throw new UsageError(`${tenantFlags.map((f) => `--${f}`).join(', ')} only apply with --graph-url (without it the job runs on the emulator's demo tenant)`);
    return options;
  }
  for (const [flag, value] of [['--graph-url', graphUrl], ['--authority-host', values['authority-host']], ['--bridge-url', values['bridge-url']]] as const) {
    if (value !== undefined && !URL.canParse(value)) throw new UsageError(`${flag} must be a URL, not "${value}"`);
  }
  const setting = (flag: string | undefined, name: string) => resolveSetting({ ...layers, flags: { [name]: flag } }, name);
  const tenantId = setting(values['tenant-id'], 'SITESYNC_TENANT_ID');
  const clientId = setting(values['client-id'], 'SITESYNC_CLIENT_ID');
  const secret = setting(undefined, CLIENT_SECRET_SETTING);
  const missing = [
    tenantId ? undefined : 'the tenant: --tenant-id (or SITESYNC_TENANT_ID)',
    clientId ? undefined : 'the app registration: --client-id (or SITESYNC_CLIENT_ID)',
    secret ? undefined : `the app's client secret: the ${CLIENT_SECRET_SETTING} environment variable`,
  ].filter((m): m is string => m !== undefined);
  if (missing.length > 0) throw new UsageError(`--graph-url needs ${missing.join('; ')}. Nothing was started.`);
  options.external = {
    customerId: OWN_TENANT_CUSTOMER_ID,
    graphUrl,
    authorityHost: values['authority-host'],
    caFile: values['graph-ca'],
    bridgeUrl: values['bridge-url'],
    // The secret is read through a reference when a token is needed; it is never stored or printed.
    tenant: { tenantId: tenantId!, clientId: clientId!, credentialReference: `env:${OWN_TENANT_SECRET_SETTING}` },
    secret: secret!,
  };
  return options;
}
