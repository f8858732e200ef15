import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import type { Context } from '@microsoft/microsoft-graph-client';
import { sharedAndHeld } from '../../shared/adapters/graph/credentials';
import { DEFAULT_RETRY, Pacer, microsoftQuotas } from '../../shared/adapters/graph/pacer';
import { PacedGraphMiddleware } from '../../shared/adapters/graph/pipeline';

/** A credential that issues tokens valid for an hour from the clock's time, counting what it is asked. */
function issuer(clock: { now: number }) {
  const asked: Array<{ scopes: string; options?: GetTokenOptions }> = [];
  let issued = 0;
  const credential: TokenCredential = {
    async getToken(scopes, options) {
      asked.push({ scopes: [scopes].flat().join(' '), options });
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { token: `t${++issued}`, expiresOnTimestamp: clock.now + 3_600_000 } satisfies AccessToken;
    },
  };
  return { credential, asked };
}

describe('tokens shared and held per scope', () => {
  it('asks the credential once for requests made together and later ones, again only near expiry', async () => {
    const clock = { now: 1_000_000 };
    const { credential, asked } = issuer(clock);
    const tokens = sharedAndHeld(credential, () => clock.now);
    const together = await Promise.all(Array.from({ length: 8 }, () => tokens.getToken('https://graph.microsoft.com/.default')));
    expect(new Set(together.map((t) => t?.token))).toEqual(new Set(['t1']));
    for (let i = 0; i < 50; i++) expect((await tokens.getToken('https://graph.microsoft.com/.default'))?.token).toBe('t1');
    expect(asked).toHaveLength(1);
    // Another scope has a token of its own.
    expect((await tokens.getToken(['https://api.interfaces.records.teams.microsoft.com/.default']))?.token).toBe('t2');
    // 54 minutes on, the first token has more than 5 minutes left: still held; at 56, asked for afresh.
    clock.now += 54 * 60_000;
    expect((await tokens.getToken('https://graph.microsoft.com/.default'))?.token).toBe('t1');
    clock.now += 2 * 60_000;
    expect((await tokens.getToken('https://graph.microsoft.com/.default'))?.token).toBe('t3');
    expect(asked).toHaveLength(3);
  });

  it('a challenge (claims) or an abortable request always reaches the credential; a failure is not held', async () => {
    const clock = { now: 0 };
    const { credential, asked } = issuer(clock);
    let fail = true;
    const flaky: TokenCredential = {
      async getToken(scopes, options) {
        if (fail) {
          fail = false;
          throw new Error('AADSTS50001: transient');
        }
        return credential.getToken(scopes, options);
      },
    };
    const tokens = sharedAndHeld(flaky, () => clock.now);
    await expect(tokens.getToken('s')).rejects.toThrow(/transient/);
    expect((await tokens.getToken('s'))?.token).toBe('t1');
    expect((await tokens.getToken('s', { claims: 'e30=' }))?.token).toBe('t2');
    expect((await tokens.getToken('s', { abortSignal: new AbortController().signal }))?.token).toBe('t3');
    expect((await tokens.getToken('s'))?.token).toBe('t1');
    expect(asked.map((a) => a.options?.claims ?? null)).toEqual([null, 'e30=', null]);
  });
});

describe('a request and its token', () => {
  /** One GET through the middleware; what reached the transport, and when. */
  const send = async (credential: TokenCredential, pacer: Pacer) => {
    const sent: Array<{ at: number; authorization: string }> = [];
    const middleware = new PacedGraphMiddleware({
      pacer,
      credential,
      scopes: ['https://graph.microsoft.com/.default'],
      retry: DEFAULT_RETRY,
      transport: async (r) => {
        sent.push({ at: Date.now(), authorization: r.headers.authorization });
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    await middleware.execute({ request: 'https://graph.microsoft.com/v1.0/users', options: { method: 'GET' } } as Context);
    return sent;
  };
  const heldFor = (ms: number) => {
    const pacer = new Pacer(microsoftQuotas());
    pacer.holdUntilTime(Date.now() + ms);
    return { pacer, until: Date.now() + ms };
  };

  it('asks for the token while the tenant is held, and sends once the hold is over', async () => {
    const { pacer, until } = heldFor(150);
    const asked: number[] = [];
    const credential: TokenCredential = {
      async getToken() {
        asked.push(Date.now());
        return { token: 't', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const sent = await send(credential, pacer);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBeLessThan(until - 100);
    expect(sent).toHaveLength(1);
    expect(sent[0].at).toBeGreaterThanOrEqual(until - 1);
  });

  it('asks again when the token asked for before the hold has less than a minute left', async () => {
    const { pacer } = heldFor(50);
    let issued = 0;
    const credential: TokenCredential = {
      async getToken() {
        issued++;
        // The first is about to expire; the second is fresh.
        return { token: `t${issued}`, expiresOnTimestamp: Date.now() + (issued === 1 ? 30_000 : 3_600_000) };
      },
    };
    expect((await send(credential, pacer)).map((s) => s.authorization)).toEqual(['Bearer t2']);
    expect(issued).toBe(2);
  });
});
