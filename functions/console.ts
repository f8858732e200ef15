import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { findConsoleDir, loadConsoleAssets, serveConsole, type ConsoleAssets } from '../shared/console/assets';
import { problemResponse, HttpProblem } from '../shared/http';

let assets: ConsoleAssets | undefined;

/**
 * The operator's console. Anonymous to the Functions host because the page holds no data: every figure it
 * shows comes from the API, with the operator's function key. In Azure, App Service Authentication sits in
 * front (infra/modules/consoleauth.bicep); a request that did not come through it is refused.
 */
app.http('console', {
  route: 'console/{*path}',
  methods: ['GET', 'HEAD'],
  authLevel: 'anonymous',
  handler: async (request: HttpRequest): Promise<HttpResponseInit> => {
    if (process.env.WEBSITE_SITE_NAME && !request.headers.get('x-ms-client-principal-id')) {
      return problemResponse(new HttpProblem(401, 'The console is served only behind App Service Authentication (Entra ID sign-in); see docs/deploy.md.').toProblem('/console'));
    }
    if (!assets) {
      const dir = findConsoleDir(__dirname);
      if (!dir) return problemResponse(new HttpProblem(503, 'The console is not built: run npm run build.', { title: 'Service Unavailable' }).toProblem('/console'));
      assets = loadConsoleAssets(dir);
    }
    const res = serveConsole(assets, { method: request.method, path: request.params.path ?? '', ifNoneMatch: request.headers.get('if-none-match') });
    return { status: res.status, headers: res.headers, body: res.body };
  },
});
