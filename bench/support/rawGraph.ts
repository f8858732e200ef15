/** The floor's side of Graph: plain HTTPS GETs with a bearer token, JSON parsed, nothing else. */
import https from 'node:https';

export function getJson(url: string, agent: https.Agent, token: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent, headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`GET ${url}: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`));
          else resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** An app-only token from the emulator's token endpoint (client credentials). */
export function getToken(app: { authority: string; tenantId: string; clientId: string; secret: string }, agent: https.Agent): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.secret, scope: 'https://graph.microsoft.com/.default' }).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(`${app.authority}/${app.tenantId}/oauth2/v2.0/token`, { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { access_token: string }).access_token));
    });
    req.on('error', reject);
    req.end(body);
  });
}
