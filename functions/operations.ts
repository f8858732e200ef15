import { app } from '@azure/functions';
import { z } from 'zod';
import { operationsDeps } from '../shared/app/operations';
import { QUEUES } from '../shared/config/queues';
import { criterionSchema, numberTypeSchema } from '../shared/domain';
import { USER_STATE_KINDS } from '../shared/onboarding';
import { apiIdSchema, apiRoute, ok, pathIds, readBody } from '../shared/http';
import { estate, explainUserPlacement, getUser, testCriteria } from '../shared/operations';

const tags = ['operations'];
const stateKind = z.enum(USER_STATE_KINDS);
const totals = z.object({ added: z.number(), changed: z.number(), unchanged: z.number(), deleted: z.number(), held: z.number() });

const estateSchema = z.object({
  customers: z.array(
    z.object({
      customerId: z.string(),
      name: z.string(),
      lastRun: z
        .object({
          runId: z.string(),
          kind: z.enum(['full', 'delta', 'staging']),
          mode: z.enum(['full', 'delta']),
          status: z.enum(['running', 'succeeded', 'held', 'failed']),
          startedAt: z.string(),
          finishedAt: z.string().optional(),
          heldReason: z.string().optional(),
          totals,
        })
        .optional(),
      users: z.number(),
      byState: z.record(stateKind, z.number()),
      needsAttention: z.number(),
      heldDeletions: z.number(),
      deadLetters: z.number(),
    }),
  ),
  deadLetters: z.number(),
  deadLettersMore: z.boolean(),
});

app.http(
  'estate',
  apiRoute({
    name: 'estate',
    method: 'GET',
    path: 'estate',
    summary: 'Every customer at a glance: last sync, users per state, needs attention, held deletions, dead letters',
    tags,
    authLevel: 'function',
    responses: { 200: { description: 'The estate', schema: estateSchema } },
    handler: async () => ok(await estate(operationsDeps(), QUEUES.userProvisioning.name)),
  }),
);

const userStateSchema = z.object({ kind: stateKind, siteId: z.string().optional(), profileId: z.string().optional(), reason: z.string().optional(), since: z.string().optional(), waitingFor: z.string().optional(), line: z.object({ kind: z.enum(['explicit', 'nextAvailable']), number: z.string().optional(), type: numberTypeSchema }).optional() });
const userRecordSchema = z.object({
  customerId: z.string(),
  userId: z.string(),
  attributes: z.record(z.string(), z.unknown()),
  state: userStateSchema,
  role: z.string().optional(),
  number: z.string().optional(),
  alsoMatchedSites: z.array(z.string()).optional(),
  syncedAt: z.string().optional(),
  removed: z.object({ kind: z.literal('soft'), at: z.string() }).optional(),
  groups: z.array(z.string()).optional(),
  teams: z
    .object({
      present: z.boolean(),
      enterpriseVoice: z.boolean(),
      numbers: z.array(z.string()),
      accountType: z.string().nullable(),
      featureTypes: z.array(z.string()),
      policies: z.record(z.string(), z.string()),
      direct: z.record(z.string(), z.string()).optional().describe('Policies and dial plan assigned to the user directly, by type'),
      primaryNumber: z.string().optional(),
    })
    .optional(),
  lastTransactionId: z.string().optional(),
  handoff: z
    .object({ reason: z.enum(['sync-add', 'sync-update']), observedAt: z.string(), requestedAt: z.string() })
    .optional()
    .describe('A hand-off to provisioning not finished yet; the reconciler sends it again if it stands still'),
});

app.http(
  'user-get',
  apiRoute({
    name: 'user-get',
    method: 'GET',
    path: 'customers/{customerId}/users/{userId}',
    summary: 'One user: its Microsoft attributes, Teams side, state (with the reason), number and last transaction',
    tags: ['users'],
    authLevel: 'function',
    responses: { 200: { description: 'The user', schema: userRecordSchema }, 404: { description: 'No such customer or user' } },
    handler: async (request) => {
      const { customerId, userId } = pathIds(request, 'customerId', 'userId');
      return ok(await getUser(operationsDeps(), customerId, userId));
    },
  }),
);

const criterionOutcome = z.object({
  attribute: z.string(),
  condition: z.string(),
  not: z.boolean(),
  join: z.enum(['AND', 'OR']),
  value: z.string().optional(),
  userValues: z.array(z.string()),
  satisfied: z.boolean(),
});
const placementSchema = z.object({
  userId: z.string(),
  state: userStateSchema,
  alsoMatchedSites: z.array(z.string()),
  placement: z.union([
    z.object({ kind: z.literal('site'), siteId: z.string(), siteName: z.string(), alsoMatched: z.array(z.string()) }),
    z.object({ kind: z.literal('customer'), reason: z.enum(['no-site-enabled', 'no-site-matches']) }),
  ]),
  sites: z.array(
    z.object({
      siteId: z.string(),
      siteName: z.string(),
      priority: z.number(),
      notEligible: z.string().optional(),
      criteriaId: z.string().optional(),
      criteriaName: z.string().optional(),
      matched: z.boolean(),
      criteria: z.array(criterionOutcome),
    }),
  ),
});

app.http(
  'user-placement',
  apiRoute({
    name: 'user-placement',
    method: 'GET',
    path: 'customers/{customerId}/users/{userId}/placement',
    summary: "Where placement puts the user with today's configuration, and why: each site's criteria, one by one",
    tags: ['users'],
    authLevel: 'function',
    responses: { 200: { description: 'The placement and its reasons', schema: placementSchema }, 404: { description: 'No such customer or user' } },
    handler: async (request) => {
      const { customerId, userId } = pathIds(request, 'customerId', 'userId');
      return ok(await explainUserPlacement(operationsDeps(), customerId, userId));
    },
  }),
);

const criteriaTestBody = z
  .object({
    criteria: z.array(criterionSchema).min(1, 'give at least one criterion').max(50),
    siteId: apiIdSchema.optional(),
    top: z.number().int().min(1).max(200).optional(),
  })
  .strict();

app.http(
  'criteria-test',
  apiRoute({
    name: 'criteria-test',
    method: 'POST',
    path: 'customers/{customerId}/criteria/test',
    summary: "Which of the customer's users a set of model filter criteria matches (nothing is saved)",
    description: 'Macros such as {{site.city}} resolve in the context of siteId when given. Returns the count and the first matching users.',
    tags: ['criteria'],
    authLevel: 'function',
    body: criteriaTestBody,
    responses: {
      200: {
        description: 'How many users match, and the first of them',
        schema: z.object({
          scanned: z.number(),
          matched: z.number(),
          users: z.array(z.object({ userId: z.string(), userPrincipalName: z.string().optional(), displayName: z.string().optional(), state: stateKind, siteId: z.string().optional() })),
        }),
      },
      404: { description: 'No such customer or site' },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      return ok(await testCriteria(operationsDeps(), customerId, await readBody(request, criteriaTestBody)));
    },
  }),
);
