/** Outcomes of the onboarding use cases that are the caller's to fix; the HTTP layer maps them to 4xx. */
import { ConflictError } from '../ports/storage';
import type { FieldError } from '../http/problem';

/** Input that is well-formed but wrong: a reference to nothing, a range too large (400, fields named). */
export class InvalidConfigurationError extends Error {
  override name = 'InvalidConfigurationError';
  constructor(
    readonly fieldErrors: FieldError[],
    message = 'The configuration is not valid; see errors.',
  ) {
    super(message);
  }
}

/** The item is still used by others, so it cannot be deleted or changed that way (409, reasons listed). */
export class InUseError extends ConflictError {
  override name = 'InUseError';
  constructor(
    what: string,
    readonly reasons: string[],
  ) {
    super(`${what} is still in use: ${reasons.slice(0, 10).join('; ')}${reasons.length > 10 ? `; and ${reasons.length - 10} more` : ''}`);
  }
}
