import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { loadFunctionApp } from '../../local/host/load';

describe('discovery smoke', () => {
  it('captures registrations', async () => {
    const registry = await loadFunctionApp(path.join(__dirname, 'fixtures', 'app'));
    expect(registry.all().map((f) => f.name).sort()).toEqual(['adminOnly', 'boom', 'defaultRoute', 'echo', 'everyFiveMinutes', 'fridayThe13th', 'secured']);
  });
});
