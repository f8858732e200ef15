/** Maps Table Storage failures onto the ports' typed errors. */
import type { TableClient } from '@azure/data-tables';
import { ConcurrencyError, ConflictError, NotFoundError, StorageError, StorageUnavailableError } from '../../ports/storage';

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

type PipelinePolicy = Parameters<TableClient['pipeline']['addPolicy']>[0];

/** Failures of the connection itself, as Node and the Azure SDK name them. */
const UNREACHABLE = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'REQUEST_SEND_ERROR']);

/**
 * A pipeline policy placed outside the SDK's retry policy: what still fails after the SDK's retries because
 * the service could not be reached or was busy (Azure Storage's 500 OperationTimedOut and 503 ServerBusy are
 * documented as retryable) becomes a StorageUnavailableError, so callers can tell "try again shortly" from a
 * fault of their own.
 */
export const unavailablePolicy: PipelinePolicy = {
  name: 'sitesyncStorageUnavailable',
  async sendRequest(request, next) {
    try {
      const response = await next(request);
      if (response.status === 500 || response.status === 503) throw new StorageUnavailableError(`Table Storage answered ${response.status}`);
      return response;
    } catch (e) {
      if (e instanceof StorageUnavailableError) throw e;
      const code = (e as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && UNREACHABLE.has(code)) throw new StorageUnavailableError(`Table Storage could not be reached (${code})`, { cause: e });
      const status = statusOf(e);
      if (status === 500 || status === 503) throw new StorageUnavailableError(`Table Storage answered ${status}`, { cause: e });
      throw e;
    }
  },
};
