import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { QuantityError } from '../../../src/webhook/errors.js';
import { addQuantities, ceilInUnits, compareQuantities, parseQuantity, type Quantity } from '../../../src/webhook/quantity.js';

const q = (num: bigint, den = 1n): Quantity => ({ num, den });

describe('parseQuantity', () => {
  it.each([
    ['500m', q(1n, 2n)],
    ['2', q(2n)],
    ['1.5', q(3n, 2n)],
    ['128Mi', q(128n << 20n)],
    ['1G', q(1_000_000_000n)],
    ['1e3', q(1000n)],
    ['1E3', q(1000n)],
    ['2Ki', q(2048n)],
    ['1.5Gi', q(3n << 29n)],
    ['1E', q(10n ** 18n)],
    ['2Ei', q(2n << 60n)],
    ['100n', q(1n, 10_000_000n)],
    ['10u', q(1n, 100_000n)],
    ['0.1m', q(1n, 10_000n)],
    ['1e-3', q(1n, 1000n)],
    ['1.5e+2', q(150n)],
    ['.5', q(1n, 2n)],
    ['5.', q(5n)],
    ['+1', q(1n)],
    ['-1', q(-1n)],
    ['0', q(0n)],
    ['000250m', q(1n, 4n)],
    ['1e40', q(10n ** 40n)],
  ])('%s', (text, value) => {
    expect(parseQuantity(text)).toEqual(value);
  });

  it.each(['', '2x', '1.2.3', '--1', '+-1', 'Mi', '1 Mi', ' 1', '1 ', '1e', '1ki', '1KI', '1Mb', 'e3', '.', '1e1.5', '1m5', '0x10', '1,5', 'NaN', 'Infinity', '١'])(
    '%j is refused with INVALID_QUANTITY',
    (text) => {
      let err: unknown;
      try {
        parseQuantity(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QuantityError);
      expect(err).toMatchObject({ code: 'INVALID_QUANTITY', input: text });
    },
  );

  it('names the value and what a quantity looks like', () => {
    expect(() => parseQuantity('2x')).toThrow(/"2x" is not a quantity \(expected a number with an optional suffix: m, k, M, G, Ki, Mi, Gi/);
  });

  it('refuses exponents beyond ±40 and overlong text', () => {
    expect(() => parseQuantity('1e41')).toThrow(expect.objectContaining({ code: 'QUANTITY_OUT_OF_RANGE' }));
    expect(() => parseQuantity('1e-99999999')).toThrow(expect.objectContaining({ code: 'QUANTITY_OUT_OF_RANGE' }));
    expect(() => parseQuantity('1'.repeat(65))).toThrow(expect.objectContaining({ code: 'INVALID_QUANTITY' }));
  });

  it('binary suffixes are exact powers of two', () => {
    const suffixes = [['Ki', 10n], ['Mi', 20n], ['Gi', 30n], ['Ti', 40n], ['Pi', 50n], ['Ei', 60n]] as const;
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 12n }), fc.constantFrom(...suffixes), (n, [suffix, shift]) => {
        expect(parseQuantity(`${n}${suffix}`)).toEqual(q(n << shift));
      }),
    );
  });

  it('decimals are exact (no floating point)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 15n }), fc.stringMatching(/^\d{1,12}$/), (whole, fraction) => {
        const parsed = parseQuantity(`${whole}.${fraction}`);
        // whole.fraction = (whole·10^len + fraction) / 10^len, compared exactly.
        const den = 10n ** BigInt(fraction.length);
        expect(compareQuantities(parsed, q(whole * den + BigInt(fraction), den))).toBe(0);
      }),
    );
  });
});

describe('quantity arithmetic', () => {
  it('adds and compares exactly (0.1 + 0.2 = 0.3)', () => {
    const sum = addQuantities(parseQuantity('0.1'), parseQuantity('0.2'));
    expect(compareQuantities(sum, parseQuantity('0.3'))).toBe(0);
    expect(compareQuantities(parseQuantity('999m'), parseQuantity('1'))).toBe(-1);
    expect(compareQuantities(parseQuantity('1Ki'), parseQuantity('1k'))).toBe(1);
  });

  it('ceilInUnits rounds up to whole units', () => {
    expect(ceilInUnits(parseQuantity('1001m'))).toBe(2n);
    expect(ceilInUnits(parseQuantity('1000m'))).toBe(1n);
    expect(ceilInUnits(parseQuantity('0'))).toBe(0n);
    expect(ceilInUnits(parseQuantity('1G'), 1n << 20n)).toBe(954n);
    expect(ceilInUnits(parseQuantity('1Gi'), 1n << 20n)).toBe(1024n);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 18n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), fc.bigInt({ min: 1n, max: 1n << 30n }), (num, den, unit) => {
        const value = q(num, den);
        const n = ceilInUnits(value, unit);
        // n·unit ≥ value > (n−1)·unit
        expect(n * unit * den >= num).toBe(true);
        expect(n === 0n || (n - 1n) * unit * den < num).toBe(true);
      }),
    );
  });
});
