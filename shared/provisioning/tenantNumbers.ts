/**
 * The numbers assigned in a customer's tenant, as Microsoft lists them (up to 1,000 a request), kept for a
 * few minutes per process: what a number is (Direct Routing, Calling Plan, Operator Connect) does not change
 * while it stays assigned, so the type of a number a user already holds is looked up here rather than asked
 * for one number at a time.
 */
import type { MicrosoftTenant, NumberAssignment } from '../ports/microsoft';

const TTL_MS = 5 * 60_000;
const cache = new Map<string, { at: number; byNumber: Promise<Map<string, NumberAssignment>> }>();

export async function assignedNumbers(tenant: MicrosoftTenant, customerId: string, now = Date.now()): Promise<Map<string, NumberAssignment>> {
  const cached = cache.get(customerId);
  if (cached && now - cached.at < TTL_MS) return cached.byNumber;
  const byNumber = (async () => {
    const out = new Map<string, NumberAssignment>();
    for await (const page of tenant.listNumberAssignments({ assignmentStatus: 'userAssigned' })) for (const n of page) out.set(n.telephoneNumber, n);
    return out;
  })();
  cache.set(customerId, { at: now, byNumber });
  byNumber.catch(() => cache.delete(customerId));
  return byNumber;
}

/** Keeps a fresh listing (the number checks read it anyway). */
export function rememberAssignedNumbers(customerId: string, byNumber: Map<string, NumberAssignment>, now = Date.now()): void {
  cache.set(customerId, { at: now, byNumber: Promise.resolve(byNumber) });
}

/** Forgets what was listed (tests). */
export function forgetAssignedNumbers(customerId?: string): void {
  if (customerId === undefined) cache.clear();
  else cache.delete(customerId);
}
