import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { describe, expect, it } from 'vitest';
import { sharedAndHeld } from '../../shared/adapters/graph/credentials';

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
