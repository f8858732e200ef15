import { app } from '@azure/functions';
import { z } from 'zod';
import { tableStorageFromSettings } from '../shared/adapters/tables';
import { readSettings } from '../shared/config/settings';
import { apiRoute, notFound, ok, pathIds } from '../shared/http';
import { customerSummary } from '../shared/provisioning/summary';

const counts = z.record(z.string(), z.number());

app.http(
  'customerSummary',
  apiRoute({
    name: 'customerSummary',
    method: 'GET',
    path: 'customers/{customerId}/summary',
    summary: 'Users per state and site, reasons for unplaced and needs-attention users, and what provisioning did',
    tags: ['operations'],
    authLevel: 'function',
    responses: {
      200: {
        description: 'The summary',
        schema: z.object({
          customerId: z.string(),
          users: z.number(),
          byState: counts,
          bySite: counts,
          unplaced: counts,
          needsAttention: counts,
          staged: z.number(),
          withNumber: z.number(),
          softDeleted: z.number(),
          numbers: z
            .object({
              total: z.number(),
              byStatus: counts,
              duplicates: z.number().describe('Numbers held by several users in Microsoft, or kept in several inventories'),
              duplicateNumbers: z.array(z.string()).describe('The first 50 of them'),
              outsideRanges: z.number().describe('Numbers recorded outside any range because a user held them in Teams'),
            })
            .describe('The number inventory'),
          provisioning: counts,
        }),
      },
      404: { description: 'No such customer' },
    },
    handler: async (request) => {
      const { customerId } = pathIds(request, 'customerId');
      const storage = tableStorageFromSettings(readSettings());
      if (!(await storage.customers.get(customerId))) throw notFound(`Customer "${customerId}" does not exist.`);
      return ok(await customerSummary(storage, customerId));
    },
  }),
);
