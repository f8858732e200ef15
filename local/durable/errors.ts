/** Refusals the Durable client API maps to HTTP statuses. */
export class InstanceConflictError extends Error {
  readonly status = 409;
}

export class NotFoundError extends Error {
  readonly status = 404;
}

export class BadRequestError extends Error {
  readonly status = 400;
}
