/** The shape a pending number assignment is stored in (one JSON document per user, by customer). */
import { z } from 'zod';
import type { PendingNumberAssignment } from '../../ports/storage';
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
