/**
 * The local runtime's secrets, generated per install as Azure generates a Function App's keys: the host's
 * function and master keys, the Durable extension's system key, the Service Bus broker's shared access
 * key, the Graph emulator's control key and the local Key Vault's access key. `npm start` keeps them in
 * `.local/keys.json` (created on first use, readable by its owner only) so that clients configured once keep
 * working across restarts; tests take fresh ones for each run.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface LocalKeys {
  /** The host's default function key (authLevel "function"). */
  functionKey: string;
  /** The host's master key (`_master`): every auth level, admin APIs included. */
  masterKey: string;
  /** System keys by extension name; the Durable extension's is `durabletask_extension`. */
  systemKeys: { durabletask_extension: string };
  /** The broker's shared access policy: Service Bus checks the key name and the signature made with the key. */
  serviceBus: { keyName: string; key: string };
  /** Needed by the Graph emulator's `/_control` API. */
  emulatorControlKey: string;
}

export const DURABLE_SYSTEM_KEY = 'durabletask_extension';
const SERVICE_BUS_KEY_NAME = 'RootManageSharedAccessKey';

/** A key as Azure makes them: 32 random bytes, URL-safe base64. */
export function randomKey(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function generateKeys(): LocalKeys {
  return {
    functionKey: randomKey(),
    masterKey: randomKey(),
    systemKeys: { durabletask_extension: randomKey() },
    // Service Bus keys are base64 of 32 bytes.
    serviceBus: { keyName: SERVICE_BUS_KEY_NAME, key: randomBytes(32).toString('base64') },
    emulatorControlKey: randomKey(),
  };
}

/** The keys kept in `file`, created there on first use; a file missing some keys gets them added. */
export function loadOrCreateKeys(file: string): LocalKeys {
  const fresh = generateKeys();
  let stored: Partial<LocalKeys> = {};
  if (existsSync(file)) {
    try {
      stored = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalKeys>;
    } catch {
      throw new Error(`${file} is not valid JSON: fix it or delete it to have new keys generated`);
    }
  }
  const keys: LocalKeys = {
    functionKey: nonEmpty(stored.functionKey) ?? fresh.functionKey,
    masterKey: nonEmpty(stored.masterKey) ?? fresh.masterKey,
    systemKeys: { durabletask_extension: nonEmpty(stored.systemKeys?.durabletask_extension) ?? fresh.systemKeys.durabletask_extension },
    serviceBus: {
      keyName: nonEmpty(stored.serviceBus?.keyName) ?? fresh.serviceBus.keyName,
      key: nonEmpty(stored.serviceBus?.key) ?? fresh.serviceBus.key,
    },
    emulatorControlKey: nonEmpty(stored.emulatorControlKey) ?? fresh.emulatorControlKey,
  };
  if (JSON.stringify(keys) !== JSON.stringify(stored)) {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  return keys;
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
