import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The parts of host.json the local host honours; everything else is Azure's alone. */
const hostJsonSchema = z.object({
  version: z.literal('2.0'),
  concurrency: z
    .object({
      dynamicConcurrencyEnabled: z.boolean().optional(),
      maximumFunctionConcurrency: z.number().int().positive().optional(),
      snapshotPersistenceEnabled: z.boolean().optional(),
    })
    .loose()
    .optional(),
  extensions: z
    .object({
      http: z.object({ routePrefix: z.string().optional() }).optional(),
      durableTask: z
        .object({
          hubName: z.string().regex(/^[A-Za-z][A-Za-z0-9]{2,44}$/, 'hubName: letters and digits, 3 to 45 characters').optional(),
          maxConcurrentActivityFunctions: z.number().int().positive().optional(),
          maxConcurrentOrchestratorFunctions: z.number().int().positive().optional(),
        })
        .loose()
        .optional(),
      serviceBus: z
        .object({
          maxConcurrentCalls: z.number().int().positive().optional(),
          autoCompleteMessages: z.boolean().optional(),
          maxAutoLockRenewalDuration: z.string().optional(),
          prefetchCount: z.number().int().nonnegative().optional(),
        })
        .loose()
        .optional(),
    })
    .loose()
    .optional(),
}).loose();

export type HostJson = z.infer<typeof hostJsonSchema>;

export function readHostJson(root: string): HostJson {
  const file = path.join(root, 'host.json');
  const parsed = hostJsonSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) throw new Error(`host.json is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export function routePrefix(hostJson: HostJson): string {
  const prefix = hostJson.extensions?.http?.routePrefix ?? 'api';
  return prefix.replace(/^\/+|\/+$/g, '');
}
