import { Code, type CodeName } from '../ttrpc/codes.js';

/** Errors the shim service answers with; the code is the ttrpc status the Kata shim sees. */
export class ShimError extends Error {
  override readonly name = 'ShimError';
  readonly grpcCode: number;

  constructor(
    readonly code: Exclude<CodeName, 'OK'>,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.grpcCode = Code[code];
  }
}
