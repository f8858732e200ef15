/**
 * The user's line: what provisioning's number step does, from what the user holds in Teams, what its profile
 * asks for and its Teams features, and what becomes of the user when the line it needs cannot be given.
 */
import type { LineRequirement } from './plan';
import type { NumberType, QuickAddGroup, UserProfile } from './schemas';

/** A line to assign: an explicit number, or the next available one of a type. */
export type WantedLine = Exclude<LineRequirement, { kind: 'none' }>;

export type NumberStepAction =
  /** Nothing asked for and nothing held. */
  | { kind: 'none' }
  /** The user holds a number that answers the line (or no line is asked): record it in the inventory. */
  | { kind: 'keep-held'; number: string }
  /** Take a number (explicit or next available) and assign it in Teams. */
  | { kind: 'assign'; line: WantedLine }
  /** A license granted in this pass has not reached Teams yet: the staging re-check assigns the number. */
  | { kind: 'await-license'; line: WantedLine; reason: string }
  /** The number cannot be assigned (no Teams Phone, a type Graph cannot assign). */
  | { kind: 'cannot-assign'; reason: string };

/** Number types Microsoft Graph can assign (Teams Phone Mobile numbers come with the mobile plan). */
export const GRAPH_ASSIGNABLE_TYPES: ReadonlySet<NumberType> = new Set(['DirectRouting', 'CallingPlan', 'OperatorConnect']);

export function numberStepAction(input: {
  line: LineRequirement;
  /** The primary number the user holds in Teams. */
  held?: string;
  /** The user's Teams feature types (PhoneSystem, CallingPlan, …). */
  features: readonly string[];
  /** Licenses were granted in this pass. */
  licensedNow: boolean;
}): NumberStepAction {
  const { line, held } = input;
  if (line.kind === 'none') return held ? { kind: 'keep-held', number: held } : { kind: 'none' };
  if (held && (line.kind === 'nextAvailable' || line.number === held)) return { kind: 'keep-held', number: held };
  if (!GRAPH_ASSIGNABLE_TYPES.has(line.type)) return { kind: 'cannot-assign', reason: `${line.type} numbers cannot be assigned through Microsoft Graph` };
  const calling = line.type === 'CallingPlan';
  if (!input.features.includes('PhoneSystem') || (calling && !input.features.includes('CallingPlan'))) {
    const license = calling ? 'Calling Plan' : 'Teams Phone';
    if (input.licensedNow) return { kind: 'await-license', line, reason: `the ${license} license just granted is not active in Teams yet: staged` };
    return { kind: 'cannot-assign', reason: `the user has no ${license} license: no number assigned` };
  }
  return { kind: 'assign', line };
}

/** Whether the profile gives the user a line: a voice profile whose Quick Add Group (or the operator) assigns one. */
export function requiresLine(profile: Pick<UserProfile, 'services'>, group: Pick<QuickAddGroup, 'line'>, operatorLine?: LineRequirement): boolean {
  if (operatorLine) return operatorLine.kind !== 'none';
  return profile.services.voice && group.line.assignment !== 'none' && group.line.numberType !== undefined;
}

/**
 * Why a user cannot be `provisioned`: its profile needs a line and it holds none at the end of the pass.
 * Undefined when the line is there, or not needed, or on its way (staged).
 */
export function missingLine(input: { required: boolean; holdsNumber: boolean; awaiting: boolean; failure?: string }): string | undefined {
  if (!input.required || input.holdsNumber || input.awaiting) return undefined;
  return `no line: ${input.failure ?? 'no number was assigned'}`;
}
