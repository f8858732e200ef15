import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * App settings for the local host, read as the Functions host reads them: local.settings.json
 * (git-ignored, yours to edit) if present, otherwise the committed sample.
 */
export function readLocalSettings(root: string): Record<string, string> {
  for (const name of ['local.settings.json', 'local.settings.sample.json']) {
    const file = path.join(root, name);
    if (!existsSync(file)) continue;
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { Values?: Record<string, unknown> };
    const values: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed.Values ?? {})) values[key] = String(value);
    return values;
  }
  return {};
}
