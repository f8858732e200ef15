import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INSTANCE_HEAP_LIMIT_MB, INSTANCE_NODE_ARGUMENTS } from '../../local/host/process';
import { ALL_QUEUES, SERVICE_BUS_CONNECTION } from '../../shared/config/queues';
import { SETTINGS, type SettingSpec } from '../../shared/config/settings';
import { type BicepValue, parseBicepValue, readBicepVar } from './bicep';
import {
  appSettingsFromBicep,
  checkBicepSyntax,
  checkInfra,
  checkModuleWiring,
  type DeclaredQueue,
  type InfraInputs,
  isoDurationMs,
  queuesFromModuleExports,
  timeSpanMs,
} from './consistency';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');
const FUNCTION_APP_BICEP = 'infra/modules/functionapp.bicep';
const SERVICE_BUS_BICEP = 'infra/modules/servicebus.bicep';
const BROKER_QUEUES = 'local/servicebus/queues.ts';

/** The repository as it is now; SETTINGS and ALL_QUEUES are read at run time, so additions are seen. */
async function repositoryInputs(): Promise<InfraInputs> {
  let brokerQueues: DeclaredQueue[] | undefined;
  if (existsSync(path.join(root, BROKER_QUEUES))) {
    const exports = (await import('../../local/servicebus/queues')) as Record<string, unknown>;
    brokerQueues = queuesFromModuleExports(exports);
  }
  return {
    settings: SETTINGS,
    queues: ALL_QUEUES,
    serviceBusConnection: SERVICE_BUS_CONNECTION,
    appSettings: appSettingsFromBicep(read(FUNCTION_APP_BICEP)),
    bicepQueues: readBicepVar(read(SERVICE_BUS_BICEP), 'queues'),
    localSettings: JSON.parse(read('local.settings.sample.json')),
    hostJson: JSON.parse(read('host.json')),
    brokerQueues,
  };
}

/** A deep copy to modify in memory. */
function copy<T>(value: T): T {
  return structuredClone(value);
}

function withoutKey(record: BicepValue | undefined, key: string): BicepValue {
  const result = copy(record) as Record<string, BicepValue>;
  delete result[key];
  return result;
}

describe('the repository is consistent', () => {
  it('SETTINGS, ALL_QUEUES, the Bicep, local.settings.sample.json and host.json agree', async () => {
    expect(checkInfra(await repositoryInputs())).toEqual([]);
  });

  it("each local instance runs with the Node worker's heap limit that the deployment sets", () => {
    const argumentsSet = appSettingsFromBicep(read(FUNCTION_APP_BICEP))?.languageWorkers__node__arguments;
    expect(typeof argumentsSet).toBe('string');
    const deployed = String(argumentsSet).split(/\s+/).filter((a) => a.startsWith('--max-old-space-size='));
    expect(deployed).toEqual([...INSTANCE_NODE_ARGUMENTS].filter((a) => a.startsWith('--max-old-space-size=')));
    expect(deployed).toEqual([`--max-old-space-size=${INSTANCE_HEAP_LIMIT_MB}`]);
  });

  it('the local broker declares every queue with the same settings', async (ctx) => {
    if (!existsSync(path.join(root, BROKER_QUEUES))) {
      ctx.skip(`${BROKER_QUEUES} does not exist yet; the broker's queues are not checked`);
    }
    const inputs = await repositoryInputs();
    if (!inputs.brokerQueues) ctx.skip(`${BROKER_QUEUES} exports no queue list this check can read`);
    expect(inputs.brokerQueues?.map((q) => q.name).sort()).toEqual(ALL_QUEUES.map((q) => q.name).sort());
    expect(checkInfra(inputs)).toEqual([]);
  });

  it('main.bicep passes each module exactly the parameters it declares and reads only its outputs', () => {
    const modules: Record<string, string | undefined> = {};
    const main = read('infra/main.bicep');
    for (const m of main.matchAll(/^module[ \t]+\S+[ \t]+'([^']+)'/gm)) {
      const file = path.join('infra', m[1]);
      modules[m[1]] = existsSync(path.join(root, file)) ? read(file) : undefined;
    }
    expect(Object.keys(modules).length).toBeGreaterThan(0);
    expect(checkModuleWiring(main, modules, parseBicepValue)).toEqual([]);
  });

  it('every Bicep file parses, names API versions and uses its parameters', () => {
    const files = readdirSync(path.join(root, 'infra'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.bicep'));
    expect(files.length).toBeGreaterThan(1);
    expect(files.flatMap((f) => checkBicepSyntax(f, read(path.join('infra', f)), parseBicepValue))).toEqual([]);
  });

  it('the resources allow no keys: storage, Service Bus, Application Insights; Key Vault is in RBAC mode', () => {
    expect(read('infra/modules/storage.bicep')).toMatch(/allowSharedKeyAccess: false/);
    expect(read(SERVICE_BUS_BICEP)).toMatch(/disableLocalAuth: true/);
    expect(read('infra/modules/monitoring.bicep')).toMatch(/DisableLocalAuth: true/);
    expect(read('infra/modules/keyvault.bicep')).toMatch(/enableRbacAuthorization: true/);
  });
});

describe('the checks catch drift', () => {
  it('a setting missing from the Bicep app settings', async () => {
    const inputs = await repositoryInputs();
    const inAzure = SETTINGS.filter((s) => !s.localOnly);
    expect(inAzure.length).toBeGreaterThan(0);
    for (const setting of inAzure) {
      const issues = checkInfra({ ...inputs, appSettings: withoutKey(inputs.appSettings, setting.name) });
      expect(issues.join('\n')).toContain(`'${setting.name}' is not set by the Bicep`);
    }
  });

  it('a setting missing from local.settings.sample.json', async () => {
    const inputs = await repositoryInputs();
    const local = SETTINGS.filter((s) => !s.azureOnly);
    expect(local.length).toBeGreaterThan(0);
    for (const setting of local) {
      const sample = copy(inputs.localSettings) as { Values: Record<string, string> };
      delete sample.Values[setting.name];
      const issues = checkInfra({ ...inputs, localSettings: sample });
      expect(issues.join('\n')).toContain(`'${setting.name}' is missing from local.settings.sample.json`);
    }
  });

  it('a setting added to SETTINGS but to neither side', async () => {
    const inputs = await repositoryInputs();
    const added: SettingSpec = { name: 'SITESYNC_SOMETHING_NEW', description: 'added in code only' };
    const issues = checkInfra({ ...inputs, settings: [...SETTINGS, added] });
    expect(issues).toContain(`setting 'SITESYNC_SOMETHING_NEW' is not set by the Bicep app settings`);
    expect(issues).toContain(`setting 'SITESYNC_SOMETHING_NEW' is missing from local.settings.sample.json Values`);
  });

  it('a setting left in the Bicep after it left SETTINGS, and a local-only one deployed to Azure', async () => {
    const inputs = await repositoryInputs();
    const appSettings = { ...(copy(inputs.appSettings) as Record<string, BicepValue>), SITESYNC_OLD: 'x', AzureWebJobsStorage: 'UseDevelopmentStorage=true' };
    const issues = checkInfra({ ...inputs, appSettings });
    expect(issues).toContain(`Bicep app setting 'SITESYNC_OLD' is not declared in SETTINGS`);
    expect(issues).toContain(`local-only setting 'AzureWebJobsStorage' is set by the Bicep app settings`);
  });

  it('a secret written into an app setting', async () => {
    const inputs = await repositoryInputs();
    const appSettings = copy(inputs.appSettings) as Record<string, BicepValue>;
    appSettings.APPLICATIONINSIGHTS_CONNECTION_STRING = { expression: "'Endpoint=sb://x/;SharedAccessKey=${key}'" };
    expect(checkInfra({ ...inputs, appSettings }).join('\n')).toContain('carries a secret');
    appSettings.APPLICATIONINSIGHTS_CONNECTION_STRING = { expression: "'@Microsoft.KeyVault(VaultName=${v};SecretName=s)'" };
    expect(checkInfra({ ...inputs, appSettings })).toEqual([]);
  });

  it('a queue removed from the Bicep text, or declared with other settings', async () => {
    const inputs = await repositoryInputs();
    const bicep = read(SERVICE_BUS_BICEP);
    const first = ALL_QUEUES[0];
    // Cut the first queue's object out of the text and parse again: the text-level path end to end.
    const start = bicep.lastIndexOf('{', bicep.indexOf(`name: '${first.name}'`));
    const end = bicep.indexOf('}', start) + 1;
    const removed = readBicepVar(bicep.slice(0, start) + bicep.slice(end), 'queues');
    expect(checkInfra({ ...inputs, bicepQueues: removed })).toContain(`queue '${first.name}' is not declared in the Bicep`);

    const changed = readBicepVar(bicep.replace(/maxDeliveryCount: \d+/, 'maxDeliveryCount: 99'), 'queues');
    expect(checkInfra({ ...inputs, bicepQueues: changed }).join('\n')).toMatch(/maxDeliveryCount is 99 in the Bicep/);

    const noDedup = readBicepVar(bicep.replace(/\n\s*duplicateDetectionWindow: '[^']*'/, ''), 'queues');
    expect(checkInfra({ ...inputs, bicepQueues: noDedup }).join('\n')).toMatch(/duplicateDetectionWindowMs is null in the Bicep/);

    const lock = readBicepVar(bicep.replace(/lockDuration: '[^']*'/, "lockDuration: 'PT30S'"), 'queues');
    expect(checkInfra({ ...inputs, bicepQueues: lock }).join('\n')).toMatch(/lockDurationMs is 30000 in the Bicep/);
  });

  it('a queue added in code only, and one the Bicep declares that the code does not', async () => {
    const inputs = await repositoryInputs();
    const extra = { name: 'new-queue', description: 'code only', maxDeliveryCount: 5, lockDuration: 'PT30S' };
    expect(checkInfra({ ...inputs, queues: [...ALL_QUEUES, extra] })).toContain(`queue 'new-queue' is not declared in the Bicep`);
    const bicepQueues = [...(copy(inputs.bicepQueues) as BicepValue[]), { name: 'stale', maxDeliveryCount: 1, lockDuration: 'PT1M' }];
    expect(checkInfra({ ...inputs, bicepQueues })).toContain(`the Bicep declares queue 'stale', which queues.ts does not`);
  });

  it('a queue missing from the local broker', async () => {
    const inputs = await repositoryInputs();
    const broker = ALL_QUEUES.slice(1).map((q) => ({ name: q.name, maxDeliveryCount: q.maxDeliveryCount }));
    const exports = { brokerQueues: () => broker, unrelated: 3 };
    const brokerQueues = queuesFromModuleExports(exports);
    expect(checkInfra({ ...inputs, brokerQueues })).toContain(`queue '${ALL_QUEUES[0].name}' is not declared in the local broker`);
  });

  it('host.json: the hub name, the durable provider and lock renewal', async () => {
    const inputs = await repositoryInputs();
    const host = copy(inputs.hostJson) as { extensions: { durableTask: Record<string, unknown>; serviceBus: Record<string, unknown> } };

    const noHub = copy(host);
    delete noHub.extensions.durableTask.hubName;
    expect(checkInfra({ ...inputs, hostJson: noHub }).join('\n')).toContain('durableTask.hubName is not set');

    const hubFromSetting = copy(host);
    hubFromSetting.extensions.durableTask.hubName = '%SITESYNC_TASK_HUB%';
    const issues = checkInfra({ ...inputs, hostJson: hubFromSetting });
    expect(issues).toContain(`the hub name setting 'SITESYNC_TASK_HUB' is not set by the Bicep`);
    expect(issues).toContain(`the hub name setting 'SITESYNC_TASK_HUB' is not in local.settings.sample.json`);

    const overridden = { ...(copy(inputs.appSettings) as Record<string, BicepValue>), AzureFunctionsJobHost__extensions__durableTask__hubName: 'otherhub' };
    expect(checkInfra({ ...inputs, appSettings: overridden })).toContain('the Bicep overrides the durable hub name with a different value than host.json');

    const scheduler = copy(host);
    scheduler.extensions.durableTask.storageProvider = { type: 'azureManaged' };
    expect(checkInfra({ ...inputs, hostJson: scheduler }).join('\n')).toContain(`storage provider 'azureManaged'`);

    const shortRenewal = copy(host);
    shortRenewal.extensions.serviceBus.maxAutoLockRenewalDuration = '00:00:10';
    expect(checkInfra({ ...inputs, hostJson: shortRenewal }).join('\n')).toContain('maxAutoLockRenewalDuration 00:00:10 is shorter');
  });

  it('identity-based connections need the endpoint, managedidentity and the client id', async () => {
    const inputs = await repositoryInputs();
    const issues = checkInfra({ ...inputs, appSettings: withoutKey(inputs.appSettings, `${SERVICE_BUS_CONNECTION}__clientId`) });
    expect(issues).toContain(`the Bicep must set '${SERVICE_BUS_CONNECTION}__clientId' (the app runs as a user-assigned identity)`);
    const noCredential = withoutKey(inputs.appSettings, 'AzureWebJobsStorage__credential');
    expect(checkInfra({ ...inputs, appSettings: noCredential })).toContain(`the Bicep must set 'AzureWebJobsStorage__credential' to 'managedidentity'`);
  });

  it('Bicep syntax: an unbalanced body, a type without API version, an unused parameter', () => {
    const bad = "param unused string\nresource a 'Microsoft.Web/sites' = {\n  name: 'x'\n}\nresource b 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'y\n"
    const issues = checkBicepSyntax('bad.bicep', bad, parseBicepValue);
    expect(issues).toContain(`bad.bicep: resource 'a' has no valid 'type@api-version' ('Microsoft.Web/sites')`);
    expect(issues.some((i) => i.startsWith(`bad.bicep: resource 'b': unterminated string`))).toBe(true);
    expect(issues).toContain(`bad.bicep: parameter 'unused' is never used`);
  });

  it('module wiring: an unknown parameter, a missing required one, an unknown output', () => {
    const module = "param name string\nparam location string = 'x'\noutput id string = 'a'\n";
    const main = "module m 'modules/m.bicep' = {\n  name: 'm'\n  params: {\n    location: 'y'\n    extra: 1\n  }\n}\noutput o string = m.outputs.nope\n";
    expect(checkModuleWiring(main, { 'modules/m.bicep': module }, parseBicepValue)).toEqual([
      `module 'm' passes 'extra', which modules/m.bicep does not declare`,
      `module 'm' does not pass required 'name' to modules/m.bicep`,
      `'m.outputs.nope' is not an output of modules/m.bicep`,
    ]);
    expect(checkModuleWiring(main, {}, parseBicepValue)).toEqual([`module 'm': file 'modules/m.bicep' does not exist`]);
  });
});

describe('reading Bicep literals', () => {
  it('objects, arrays, comments, interpolation, loops and expressions', () => {
    const text = `var x = {
  // a comment
  a: 'plain'   // trailing comment
  'b-c': 'it\\'s'
  d: 'https://\${site.properties.defaultHostName}/x'
  e: [
    1
    true
    null
  ]
  f: { g: 'h', i: 2 }
  j: storage.outputs.name
  k: [for q in queues: { name: q.name }]
  l: cond ? 'a' : 'b'
  /* block
     comment */
  m: '''
multi'''
}
var y = 1`;
    expect(readBicepVar(text, 'x')).toEqual({
      a: 'plain',
      'b-c': "it's",
      d: { expression: "'https://${site.properties.defaultHostName}/x'" },
      e: [1, true, null],
      f: { g: 'h', i: 2 },
      j: { expression: 'storage.outputs.name' },
      k: [{ expression: '[for q in queues: { name: q.name }]' }],
      l: { expression: "cond ? 'a' : 'b'" },
      m: '\nmulti',
    });
    expect(readBicepVar(text, 'y')).toBe(1);
    expect(readBicepVar(text, 'z')).toBeUndefined();
  });

  it('rejects a property declared twice and an unterminated object', () => {
    expect(() => parseBicepValue("{\n  a: 1\n  a: 2\n}")).toThrow(/declared twice/);
    expect(() => parseBicepValue("{\n  a: 'x'\n")).toThrow();
  });

  it('durations in ISO 8601 (Service Bus) and TimeSpan (host.json) form', () => {
    expect(isoDurationMs('PT1M')).toBe(60_000);
    expect(isoDurationMs('PT10M')).toBe(600_000);
    expect(isoDurationMs('P1DT1H30S')).toBe(86_400_000 + 3_600_000 + 30_000);
    expect(() => isoDurationMs('P')).toThrow();
    expect(() => isoDurationMs('1M')).toThrow();
    expect(timeSpanMs('00:05:00')).toBe(300_000);
    expect(timeSpanMs('1.00:00:01.5')).toBe(86_401_500);
    expect(() => timeSpanMs('5m')).toThrow();
  });
});
