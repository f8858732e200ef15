import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * App settings of the local runtime, resolved in one order everywhere (README, "Configuration"):
 *
 *   1. a command-line flag, or the address of a part `npm start` runs itself;
 *   2. the environment;
 *   3. local.settings.json (git-ignored, yours to edit);
 *   4. the built-in default (the app's own, in shared/config/settings.ts, or one computed at start).
 *
 * Steps 2 and 3 are what the Functions Core Tools do: a value already in the environment wins over
 * local.settings.json, and an empty value counts as unset. local.settings.sample.json is a template to
 * copy, never read: its values must not stand in for a setting nobody gave.
 */
export type SettingValues = Readonly<Record<string, string | undefined>>;

export interface SettingLayers {
  flags?: SettingValues;
  environment?: SettingValues;
  file?: SettingValues;
  defaults?: SettingValues;
}

export type SettingSource = keyof SettingLayers;

export const LOCAL_SETTINGS_FILE = 'local.settings.json';

/** The `Values` of local.settings.json in `root`, or nothing when there is no such file. */
export function readLocalSettings(root: string): Record<string, string> {
  const file = path.join(root, LOCAL_SETTINGS_FILE);
  if (!existsSync(file)) return {};
  let parsed: { Values?: Record<string, unknown> };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
  } catch (err) {
    throw new Error(`${LOCAL_SETTINGS_FILE} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed.Values ?? {})) {
    if (value !== null && value !== undefined && String(value) !== '') values[key] = String(value);
  }
  return values;
}

const given = (value: string | undefined): value is string => value !== undefined && value !== '';

/**
 * One value per name, from the first layer that gives it. The environment is consulted only for the
 * names asked for and the names another layer knows: the rest of it is the process's own business.
 */
export function resolveSettings(layers: SettingLayers, names: Iterable<string> = []): { values: Record<string, string>; sources: Record<string, SettingSource> } {
  const order: SettingSource[] = ['flags', 'environment', 'file', 'defaults'];
  const wanted = new Set(names);
  for (const layer of [layers.flags, layers.file, layers.defaults]) for (const name of Object.keys(layer ?? {})) wanted.add(name);
  const values: Record<string, string> = {};
  const sources: Record<string, SettingSource> = {};
  for (const name of wanted) {
    for (const source of order) {
      const value = layers[source]?.[name];
      if (given(value)) {
        values[name] = value;
        sources[name] = source;
        break;
      }
    }
  }
  return { values, sources };
}

/** The first given value of one setting, in the same order. */
export function resolveSetting(layers: SettingLayers, name: string): string | undefined {
  return resolveSettings(layers, [name]).values[name];
}
