/**
 * The sync filter for large tenants: which users a customer's syncs take in at all. A full read pushes it to
 * Microsoft Graph as the `$filter` of `GET /users` (each attribute here supports `eq` and `in` there without
 * advanced query headers: Graph v1.0 user resource); a delta round cannot be filtered by Graph (`/users/delta`
 * takes `$filter` on `id` only) and neither can a change notification, so what they bring is checked here
 * the same way, case-insensitively as Graph compares strings. Users outside are never stored; a stored user
 * that leaves the filter is a leaver (the customer's leaver setting says what follows), never a deletion.
 */
import type { AttributeValue } from './criteria';
import type { SyncFilter } from './schemas';

const quote = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** Whether any filter is set at all (an empty one takes everyone). */
export function filters(filter: SyncFilter | undefined): filter is SyncFilter {
  return filter !== undefined && (filter.membersOnly || filter.attributes.length > 0);
}

/** The `$filter` of a full read, or undefined when the filter asks nothing. */
export function syncFilterQuery(filter: SyncFilter | undefined): string | undefined {
  if (!filters(filter)) return undefined;
  const clauses: string[] = [];
  if (filter.membersOnly) clauses.push(`userType eq 'Member'`);
  for (const a of filter.attributes) {
    clauses.push(a.values.length === 1 ? `${a.attribute} eq ${quote(a.values[0])}` : `${a.attribute} in (${a.values.map(quote).join(',')})`);
  }
  return clauses.join(' and ');
}

/** Whether a user's attributes pass the filter (every clause must hold, as the `and` of the query does). */
export function inSyncFilter(attributes: Partial<Record<string, AttributeValue>>, filter: SyncFilter | undefined): boolean {
  if (!filters(filter)) return true;
  if (filter.membersOnly && !same(attributes.userType, 'Member')) return false;
  return filter.attributes.every((a) => a.values.some((v) => same(attributes[a.attribute], v)));
}

function same(value: AttributeValue | undefined, wanted: string): boolean {
  return typeof value === 'string' && value.toLowerCase() === wanted.toLowerCase();
}
