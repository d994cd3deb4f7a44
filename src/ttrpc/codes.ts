/** gRPC status codes as ttrpc carries them in `google.rpc.Status.code` (reference §1.4). */
export const Code = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type CodeName = keyof typeof Code;
export type CodeValue = (typeof Code)[CodeName];

const names: Record<number, CodeName> = Object.fromEntries(
  Object.entries(Code).map(([name, value]) => [value, name as CodeName]),
);

/** `DEADLINE_EXCEEDED` for 4; `Code(17)` for values outside the table. */
export function codeName(code: number): string {
  return names[code] ?? `Code(${code})`;
}

/** Only 0–16 may go on the wire: the Rust client reads an unknown code as success (wire-notes). */
export function isWireCode(code: number): code is CodeValue {
  return Number.isInteger(code) && code >= 0 && code <= 16;
}

/**
 * An error that crosses the wire as a `google.rpc.Status`. `details` holds the encoded
 * `google.protobuf.Any` entries untouched, so a proxy passes an agent's status through as it came.
 */
export class TtrpcError extends Error {
  override readonly name = 'TtrpcError';
  constructor(
    readonly code: number,
    message: string,
    readonly details: readonly Uint8Array[] = [],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  override toString(): string {
    return `ttrpc: ${codeName(this.code)}: ${this.message}`;
  }
}

/**
 * Errors of any layer can say which status they deserve by carrying a numeric `grpcCode`
 * (the shim's ShimError does; provider failures reach the wire as ShimErrors, through the shim's status table). Everything else becomes UNKNOWN with its message,
 * like the Go server does.
 */
export function toTtrpcError(err: unknown): TtrpcError {
  if (err instanceof TtrpcError) return err;
  if (err instanceof Error) {
    const grpcCode = (err as { grpcCode?: unknown }).grpcCode;
    if (typeof grpcCode === 'number' && isWireCode(grpcCode) && grpcCode !== Code.OK) {
      return new TtrpcError(grpcCode, err.message);
    }
    return new TtrpcError(Code.UNKNOWN, err.message);
  }
  return new TtrpcError(Code.UNKNOWN, String(err));
}

/** A call whose deadline passed, in the words Go's ttrpc uses (`context deadline exceeded`). */
export function deadlineExceeded(): TtrpcError {
  return new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded');
}
