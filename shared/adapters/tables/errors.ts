/** Maps Table Storage failures onto the ports' typed errors. */
import { ConcurrencyError, ConflictError, NotFoundError, StorageError } from '../../ports/storage';

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** A typed error for 404/409/412; anything else is rethrown as it came. */
export function toStorageError(error: unknown, what: string): Error {
  switch (statusOf(error)) {
    case 404:
      return new NotFoundError(`${what} was not found`, { cause: error });
    case 409:
      return new ConflictError(`${what} already exists`, { cause: error });
    case 412:
      return new ConcurrencyError(`${what} was changed by someone else; read it again and retry`, { cause: error });
    default:
      return error instanceof Error ? error : new StorageError(String(error));
  }
}

/** Runs a call, translating its failure. */
export async function translate<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw toStorageError(e, what);
  }
}
