/** RFC 9457 problem details, as the provisioning HTTP functions answer them. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
}

export function problem(status: number, title: string, detail?: string, errors?: Problem['errors']): Problem {
  return { type: 'about:blank', title, status, ...(detail ? { detail } : {}), ...(errors ? { errors } : {}) };
}

export class ProblemError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.detail ?? problem.title);
  }
}
