import { describe, expect, it } from 'vitest';
import { codedError, singleCodeError } from '../../../src/util/coded-error.js';

const DemoCode = { FIRST: 'FIRST', SECOND: 'SECOND' } as const;
type DemoCode = (typeof DemoCode)[keyof typeof DemoCode];

class DemoError extends codedError('DemoError', DemoCode) {}

/** A class with an extra field, as ProviderError and VxlanError are built. */
class DetailedError extends codedError('DetailedError', ['LEFT', 'RIGHT'] as const) {
  constructor(
    code: 'LEFT' | 'RIGHT',
    readonly side: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

class NarrowError extends DemoError {
  override readonly name = 'NarrowError';
}

class FixedError extends singleCodeError('FixedError', 'ALWAYS') {}

describe('codedError', () => {
  it('makes a class whose instances are Errors with the given name, code and message', () => {
    const e = new DemoError('SECOND', 'second went wrong');
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(DemoError);
    expect(e.name).toBe('DemoError');
    expect(e.code).toBe('SECOND');
    expect(e.message).toBe('second went wrong');
    expect(String(e)).toBe('DemoError: second went wrong');
    expect(e.stack?.split('\n')[0]).toBe('DemoError: second went wrong');
    expect(DemoError.name).toBe('DemoError');
  });

  it('keeps a cause when one is given, and has no cause key without one', () => {
    const root = new Error('disk on fire');
    expect(new DemoError('FIRST', 'x', { cause: root }).cause).toBe(root);
    expect('cause' in new DemoError('FIRST', 'x')).toBe(false);
    expect('cause' in new DemoError('FIRST', 'x', {})).toBe(false);
  });

  it('lists its codes in table order, from an object or from a list', () => {
    expect(DemoError.codes).toEqual(['FIRST', 'SECOND']);
    expect(DetailedError.codes).toEqual(['LEFT', 'RIGHT']);
    expect(Object.isFrozen(DemoError.codes)).toBe(true);
    // Codes are checked by the type checker (tsc -p tsconfig.test.json fails if these lines compile).
    // @ts-expect-error 'THIRD' is not a DemoCode
    expect(new DemoError('THIRD', 'x').code).toBe('THIRD');
    // @ts-expect-error 'UP' is not a code of the list
    expect(new DetailedError('UP', 0, 'x').code).toBe('UP');
  });

  it('gives each code by its name, for call sites (`DemoError.Code.FIRST`)', () => {
    expect(DemoError.Code).toEqual({ FIRST: 'FIRST', SECOND: 'SECOND' });
    expect(DetailedError.Code.RIGHT).toBe('RIGHT');
    expect(Object.isFrozen(DetailedError.Code)).toBe(true);
  });

  it('says which codes are retryable, per class (none unless given)', () => {
    const Flaky = codedError('FlakyError', ['BUSY', 'BROKEN', 'GONE'], { retryable: ['BUSY', 'GONE'] });
    expect(new Flaky('BUSY', 'x').retryable).toBe(true);
    expect(new Flaky('GONE', 'x').retryable).toBe(true);
    expect(new Flaky('BROKEN', 'x').retryable).toBe(false);
    expect([...Flaky.retryableCodes]).toEqual(['BUSY', 'GONE']);
    expect(new DemoError('FIRST', 'x').retryable).toBe(false);
    expect(new FixedError('x').retryable).toBe(false);
    // A getter of the class, not a field: it is not written into log lines.
    expect(Object.keys(new Flaky('BUSY', 'x'))).not.toContain('retryable');
  });

  it('guards by class and, when asked, by code', () => {
    const e = new DemoError('FIRST', 'x');
    expect(DemoError.is(e)).toBe(true);
    expect(DemoError.is(e, 'FIRST')).toBe(true);
    expect(DemoError.is(e, 'SECOND')).toBe(false);
    expect(DemoError.is(new Error('x'))).toBe(false);
    expect(DemoError.is(Object.assign(new Error('x'), { code: 'FIRST' }))).toBe(false);
    expect(DemoError.is(undefined)).toBe(false);
    // A class made by another call is another class, even with the same name and codes.
    const Twin = codedError('DemoError', DemoCode);
    expect(DemoError.is(new Twin('FIRST', 'x'))).toBe(false);
  });

  it('the guard of a subclass accepts only that subclass; the base guard accepts the subclass', () => {
    const narrow = new NarrowError('FIRST', 'x');
    expect(narrow.name).toBe('NarrowError');
    expect(NarrowError.is(narrow)).toBe(true);
    expect(NarrowError.is(new DemoError('FIRST', 'x'))).toBe(false);
    expect(DemoError.is(narrow, 'FIRST')).toBe(true);
  });

  it('lets a subclass add fields and change the constructor', () => {
    const cause = new Error('root');
    const e = new DetailedError('RIGHT', 3, 'off by three', { cause });
    expect(e).toMatchObject({ name: 'DetailedError', code: 'RIGHT', side: 3, message: 'off by three', cause });
    expect(DetailedError.is(e, 'RIGHT')).toBe(true);
  });
});

describe('singleCodeError', () => {
  it('gives every instance the one code, the name and an optional cause', () => {
    const cause = new Error('root');
    const e = new FixedError('broken', { cause });
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ name: 'FixedError', code: 'ALWAYS', message: 'broken', cause });
    expect('cause' in new FixedError('broken')).toBe(false);
    expect(FixedError.codes).toEqual(['ALWAYS']);
    expect(FixedError.name).toBe('FixedError');
  });
});
