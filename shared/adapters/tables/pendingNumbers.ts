/** Pending number assignments: one JSON document per user, a partition per customer. */
import { z } from 'zod';
import type { PendingNumberAssignment, PendingNumberAssignmentRepository } from '../../ports/storage';
import { customerScopedRepository, type DocumentTable } from './documents';
import { encodeKey } from './keys';
import { numberTypeSchema, type UserState } from '../../domain';

export const pendingNumberAssignmentSchema: z.ZodType<PendingNumberAssignment> = z.object({
  customerId: z.string(),
  userId: z.string(),
  number: z.string(),
  lineType: numberTypeSchema,
  inventorySiteId: z.string().optional(),
  siteId: z.string(),
  location: z.string().optional(),
  transactionId: z.string(),
  startedAt: z.string(),
  dueAt: z.string(),
  sends: z.number().int(),
  checks: z.number().int(),
  skip: z.array(z.string()),
  // Written by provisioning from a state it built: read back as it was written.
  then: z.custom<UserState>((v) => typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string').optional(),
  role: z.string().optional(),
  replaces: z.string().optional(),
  cause: z.record(z.string(), z.unknown()),
  stageIfRefused: z
    .object({
      profileId: z.string(),
      line: z.union([z.object({ kind: z.literal('explicit'), number: z.string(), type: numberTypeSchema }), z.object({ kind: z.literal('nextAvailable'), type: numberTypeSchema })]),
    })
    .optional(),
});

export function pendingNumberRepository(table: DocumentTable<PendingNumberAssignment>): PendingNumberAssignmentRepository {
  return {
    ...customerScopedRepository(table, (p) => p.userId),
    async updateAll(items) {
      const byCustomer = new Map<string, Array<{ rowKey: string; value: PendingNumberAssignment; etag: string }>>();
      for (const { value, etag } of items) {
        const chunk = byCustomer.get(value.customerId) ?? [];
        chunk.push({ rowKey: encodeKey(value.userId), value, etag });
        byCustomer.set(value.customerId, chunk);
      }
      const out = { written: [] as Array<{ value: PendingNumberAssignment; etag: string }>, stale: 0 };
      for (const [customerId, chunk] of byCustomer) {
        const r = await table.updateAll(encodeKey(customerId), chunk);
        out.written.push(...r.written.map(({ value, etag }) => ({ value, etag })));
        out.stale += r.stale;
      }
      return out;
    },
  };
}
