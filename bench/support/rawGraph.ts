/** The floor's side of Graph: plain HTTPS GETs with a bearer token, JSON parsed, nothing else. */
import https from 'node:https';

/** One GET; a connection the server closed while idle (keep-alive timeout) is retried once on a new one. */
export async function getJson(url: string, agent: https.Agent, token: string): Promise<Record<string, unknown>> {
  try {
    return await getJsonOnce(url, agent, token);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ECONNRESET' && !/socket hang up/.test(String(err))) throw err;
    return getJsonOnce(url, agent, token);
  }
}

function getJsonOnce(url: string, agent: https.Agent, token: string): Promise<Record<string, unknown>> {
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
