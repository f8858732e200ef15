/**
 * Reading where Teams number operations stand: the operation itself when Microsoft gave its Location, else
 * the number's own assignment. Pure: the requests to send and the outcome of each answer.
 */
import type { NumberAssignment, NumberOperation, NumberOperationOutcome } from '../../ports/microsoft';
import { withPlus } from './mapping';

type Json = Record<string, unknown>;

export const NUMBER_ASSIGNMENTS = '/admin/teams/telephoneNumberManagement/numberAssignments';

/** A URL Graph gave us (absolute, with its version) as a path a $batch item can carry. */
export function batchPath(location: string): string {
  return location.replace(/^https?:\/\/[^/]+/i, '').replace(/^\/(v1\.0|beta)(?=\/)/, '');
}

/** The one number's assignment, by filter (the list is how Graph finds a number). */
export function numberStatePath(number: string): string {
  return `${NUMBER_ASSIGNMENTS}?$filter=${encodeURIComponent(`telephoneNumber eq '${withPlus(number).replace(/'/g, "''")}'`)}`;
}

/** telephoneNumberLongRunningOperation → outcome. Microsoft's example wraps it in `value`; both are read. */
export function outcomeOfOperation(body: unknown): NumberOperationOutcome {
  const raw = (body ?? {}) as Json;
  const state = (raw.value && typeof raw.value === 'object' && !Array.isArray(raw.value) ? raw.value : raw) as Json;
  const status = String(state.status ?? '');
  if (status === 'succeeded') return { status: 'succeeded' };
  if (status === 'failed') {
    const numbers = Array.isArray(state.numbers) ? (state.numbers as Json[]) : [];
    const detail = numbers.map((n) => n.statusDetail).find((d) => typeof d === 'string' && d.length > 0) ?? state.statusDetail;
    const error = (state.error ?? {}) as Json;
    return { status: 'failed', reason: String(detail ?? error.message ?? error.code ?? 'failed without a reason') };
  }
  return { status: 'pending' };
}

/** The number's assignment → outcome of an operation on it, when the operation itself cannot be read. */
export function outcomeOfNumber(operation: Pick<NumberOperation, 'kind' | 'userId'>, assignment: NumberAssignment | null): NumberOperationOutcome {
  if (operation.kind === 'assign') {
    if (assignment?.assignmentTargetId === operation.userId) {
      return assignment.activationState === 'assignmentPending' ? { status: 'pending' } : { status: 'succeeded' };
    }
    if (assignment?.assignmentTargetId) return { status: 'failed', reason: `the number is assigned to someone else (${assignment.assignmentTargetId})` };
    return { status: 'failed', reason: 'the number was not assigned to the user', notApplied: true };
  }
  if (!assignment || assignment.assignmentStatus === 'unassigned' || assignment.assignmentTargetId !== operation.userId) return { status: 'succeeded' };
  return assignment.activationState === 'updatePending' ? { status: 'pending' } : { status: 'failed', reason: 'the number is still assigned to the user', notApplied: true };
}
