/**
 * Kubernetes resource quantities (`500m`, `2`, `1.5`, `128Mi`, `1G`, `1e3`, `2Ki`), held exactly as a
 * fraction of two bigints so that sums and rounding never meet floating-point error.
 *
 * Grammar (the API's):
 *   quantity  ::= [+|-] number suffix
 *   number    ::= digits | digits "." digits | digits "." | "." digits
 *   suffix    ::= binarySI | decimalSI | ("e" | "E") [+|-] digits
 *   binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
 *   decimalSI ::= n | u | m | "" | k | M | G | T | P | E
 * `1E` is 10^18 (the SI suffix), `1E3` is 1000 (an exponent); `1e` is malformed.
 */
import { QuantityError, WebhookErrorCode } from './errors.js';

/** An exact value `num / den`, `den > 0`, reduced. */
export interface Quantity {
  readonly num: bigint;
  readonly den: bigint;
}

export const ZERO: Quantity = { num: 0n, den: 1n };

/** Longest text accepted; real quantities are a handful of characters. */
const MAX_LENGTH = 64;
/** Largest |exponent| accepted in the `1e3` form (10^±40 covers every real resource). */
const MAX_EXPONENT = 40;

const BINARY: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const DECIMAL: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

const SYNTAX = /^([+-]?)(\d+\.?\d*|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei)|[eE]([+-]?\d+)|(n|u|m|k|M|G|T|P|E)?)$/;

function gcd(a: bigint, b: bigint): bigint {
  let x = a < 0n ? -a : a;
  let y = b;
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

function make(num: bigint, den: bigint): Quantity {
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

/**
 * Parses one quantity. Throws QuantityError `INVALID_QUANTITY` for text outside the grammar and
 * `QUANTITY_OUT_OF_RANGE` for an exponent (`1e41`) beyond ±40.
 */
export function parseQuantity(input: string): Quantity {
  if (input.length === 0) throw new QuantityError(WebhookErrorCode.INVALID_QUANTITY, input, 'a quantity cannot be empty');
  if (input.length > MAX_LENGTH) {
    throw new QuantityError(WebhookErrorCode.INVALID_QUANTITY, input, `a quantity is at most ${MAX_LENGTH} characters`);
  }
  const m = SYNTAX.exec(input);
  if (!m) {
    throw new QuantityError(
      WebhookErrorCode.INVALID_QUANTITY,
      input,
      `${JSON.stringify(input)} is not a quantity (expected a number with an optional suffix: m, k, M, G, Ki, Mi, Gi, …, or an exponent such as 1e3)`,
    );
  }
  const [, sign, number, binary, exponent, decimal] = m;
  const [whole = '', fraction = ''] = number!.split('.');
  let num = BigInt(`${whole}${fraction}` || '0');
  let den = 1n;
  let exp10 = -fraction.length;
  if (binary !== undefined) {
    num <<= BigInt(BINARY[binary]!);
  } else if (exponent !== undefined) {
    const e = Number(exponent);
    if (Math.abs(e) > MAX_EXPONENT) {
      throw new QuantityError(WebhookErrorCode.QUANTITY_OUT_OF_RANGE, input, `${JSON.stringify(input)}: exponent out of range (at most ±${MAX_EXPONENT})`);
    }
    exp10 += e;
  } else {
    exp10 += DECIMAL[decimal ?? '']!;
  }
  if (exp10 >= 0) num *= 10n ** BigInt(exp10);
  else den = 10n ** BigInt(-exp10);
  return make(sign === '-' ? -num : num, den);
}

export function addQuantities(a: Quantity, b: Quantity): Quantity {
  return make(a.num * b.den + b.num * a.den, a.den * b.den);
}

/** -1, 0 or 1 as `a` is less than, equal to or greater than `b`. */
export function compareQuantities(a: Quantity, b: Quantity): -1 | 0 | 1 {
  const d = a.num * b.den - b.num * a.den;
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

export function isZero(q: Quantity): boolean {
  return q.num === 0n;
}

/** The smallest integer n with n × unit ≥ q (q rounded up to whole units, e.g. MiB with unit 2^20). */
export function ceilInUnits(q: Quantity, unit: bigint = 1n): bigint {
  const num = q.num;
  const den = q.den * unit;
  const quotient = num / den; // truncates toward zero
  return num > 0n && quotient * den !== num ? quotient + 1n : quotient;
}
