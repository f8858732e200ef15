import { app } from '@azure/functions';
import { z } from 'zod';
import { apiRoute, ok, openApiDocument } from '../shared/http';
import { APP_VERSION } from '../shared/config/version';

app.http(
  'openapi',
  apiRoute({
    name: 'openapi',
    method: 'GET',
    path: 'openapi.json',
    summary: 'This API described in OpenAPI 3.1',
    tags: ['meta'],
    authLevel: 'anonymous',
    responses: {
      200: {
        description: 'The OpenAPI document',
        // Its own shape is OpenAPI 3.1's; only the top level is described here.
        schema: z.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string(), description: z.string().optional() }), servers: z.array(z.object({ url: z.string() })), paths: z.record(z.string(), z.unknown()), components: z.record(z.string(), z.unknown()), security: z.array(z.record(z.string(), z.array(z.string()))) }),
      },
    },
    handler: async () => ok(openApiDocument({ title: 'sitesync API', version: APP_VERSION, description: 'Onboarding, configuration and operations of sitesync.' })),
  }),
);
