/**
 * Error classes with a stable `code`, so callers decide what to do without reading messages. A module
 * lists its codes (what each means in the class's doc comment) and declares its class, the name→code
 * table, the type of the codes and the guard in four lines:
 *
 *     export class TlsError extends codedError('TlsError', ['INVALID_CONFIG', 'FILE_UNREADABLE']) {}
 *     export const TlsErrorCode = TlsError.Code;
 *     export type TlsErrorCode = TlsError['code'];
 *     export const isTlsError = (err: unknown, code?: TlsErrorCode): err is TlsError => TlsError.is(err, code);
 *
 * A class with more fields (ProviderError's partialInstanceId, VxlanError's step) extends the produced
 * base and adds them; a class with one code for every instance (ConfigError) uses `singleCodeError`.
 */

export interface CodedErrorOptions {
  cause?: unknown;
}

/** Error's own options: `cause` only when one is given, so an error without a cause has no `cause` key. */
export function causeOption(options: CodedErrorOptions | undefined): ErrorOptions {
  return options?.cause === undefined ? {} : { cause: options.cause };
}

/** The codes of a table: the values of a `{ NAME: 'NAME', … } as const` object, or a list. */
type CodesOf<T> = T extends readonly string[] ? T[number] : T[keyof T] & string;

/** What `codedError` produces: a class to extend (or use as is) with its codes and a guard. */
export interface CodedErrorClass<C extends string> {
  new (code: C, message: string, options?: CodedErrorOptions): CodedError<C>;
  /** Every code, in table order. */
  readonly codes: readonly C[];
  /** The codes whose failures may pass if the same call is made again (`retryable` of an instance). */
  readonly retryableCodes: ReadonlySet<C>;
  /** Each code by its name (`TlsErrorCode.INVALID_CONFIG === 'INVALID_CONFIG'`), for call sites. */
  readonly Code: { readonly [K in C]: K };
  /** `err` is an instance of this class (or a subclass), with `code` when one is given. */
  is<E extends CodedError<C>>(this: abstract new (...args: never[]) => E, err: unknown, code?: C): err is E;
}

export interface CodedError<C extends string> extends Error {
  readonly code: C;
  /** Whether the same call may succeed later unchanged: the code is one of the class's `retryable` codes. */
  readonly retryable: boolean;
}

export interface CodedErrorClassOptions<C extends string> {
  /** The codes of failures that may pass when the same call is made again (default none). */
  retryable?: readonly NoInfer<C>[];
}

/**
 * A base class named `name` whose instances carry one of `codes`. `name` is what logs and messages
 * show (the `name` of every instance, also of a subclass that does not set its own).
 */
export function codedError<const T extends Readonly<Record<string, string>> | readonly string[]>(
  name: string,
  codes: T,
  options: CodedErrorClassOptions<CodesOf<T>> = {},
): CodedErrorClass<CodesOf<T>> {
  type C = CodesOf<T>;
  const list = Object.freeze((Array.isArray(codes) ? [...codes] : Object.values(codes)) as C[]);
  const table = Object.freeze(Object.fromEntries(list.map((c) => [c, c]))) as { readonly [K in C]: K };
  const retryableCodes: ReadonlySet<C> = new Set(options.retryable);
  class Coded extends Error {
    static readonly codes = list;
    static readonly Code = table;
    static readonly retryableCodes = retryableCodes;

    override readonly name: string = name;

    constructor(
      readonly code: C,
      message: string,
      options?: CodedErrorOptions,
    ) {
      super(message, causeOption(options));
    }

    get retryable(): boolean {
      return retryableCodes.has(this.code);
    }

    static is<E extends Coded>(this: abstract new (...args: never[]) => E, err: unknown, code?: C): err is E {
      return err instanceof this && (code === undefined || err.code === code);
    }
  }
  // The base's own name, for stack traces and for pino's `type` of an instance of the base itself.
  Object.defineProperty(Coded, 'name', { value: name });
  return Coded;
}

/** What `singleCodeError` produces: every instance has the same `code`. */
export interface SingleCodeErrorClass<C extends string> {
  new (message: string, options?: CodedErrorOptions): CodedError<C>;
  readonly codes: readonly [C];
}

/** A base class named `name` whose every instance has `code` (e.g. ConfigError: INVALID_CONFIG). */
export function singleCodeError<const C extends string>(name: string, code: C): SingleCodeErrorClass<C> {
  class SingleCode extends Error {
    static readonly codes = Object.freeze([code] as [C]);

    override readonly name: string = name;
    readonly code: C = code;

    constructor(message: string, options?: CodedErrorOptions) {
      super(message, causeOption(options));
    }

    get retryable(): boolean {
      return false;
    }
  }
  Object.defineProperty(SingleCode, 'name', { value: name });
  return SingleCode;
}
