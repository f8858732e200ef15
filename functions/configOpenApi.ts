import { app } from '@azure/functions';
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
    responses: { 200: { description: 'The OpenAPI document' } },
    handler: async () => ok(openApiDocument({ title: 'sitesync API', version: APP_VERSION, description: 'Onboarding, configuration and operations of sitesync.' })),
  }),
);
