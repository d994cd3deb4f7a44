/**
 * Kubernetes `Status` failure documents, as the apiserver writes them for errors.
 */
export const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Expired',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
}

/** Thrown inside the fake; the server turns it into a Status reply. */
export class StatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly reason: string = REASONS[code] ?? 'Unknown',
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  body(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `<resource> "<name>" not found`, as the apiserver says it. */
export const notFound = (resource: string, name: string, group = ''): StatusError =>
  new StatusError(404, `${group ? `${resource}.${group}` : resource} "${name}" not found`, 'NotFound', { name, group, kind: resource });

export const alreadyExists = (resource: string, name: string, group = ''): StatusError =>
  new StatusError(409, `${group ? `${resource}.${group}` : resource} "${name}" already exists`, 'AlreadyExists', { name, group, kind: resource });

export const conflict = (resource: string, name: string, why: string, group = ''): StatusError =>
  new StatusError(
    409,
    `Operation cannot be fulfilled on ${group ? `${resource}.${group}` : resource} "${name}": ${why}`,
    'Conflict',
    { name, group, kind: resource },
  );

export const invalid = (kind: string, name: string, why: string, group = ''): StatusError =>
  new StatusError(422, `${kind} "${name}" is invalid: ${why}`, 'Invalid', { name, group, kind });
