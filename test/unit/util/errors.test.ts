import { describe, expect, it } from 'vitest';
import { messageOf } from '../../../src/util/errors.js';

describe('messageOf', () => {
  it("is an Error's message, an Error-like object's message, else the thrown value as text", () => {
    expect(messageOf(new RangeError('out of range'))).toBe('out of range');
    expect(messageOf(new DOMException('The operation was aborted', 'AbortError'))).toBe('The operation was aborted');
    expect(messageOf({ message: 'from a plain object', code: 'X' })).toBe('from a plain object');
    // `(err as Error).message` read these as undefined.
    expect(messageOf('a thrown string')).toBe('a thrown string');
    expect(messageOf(42)).toBe('42');
    expect(messageOf(undefined)).toBe('undefined');
    expect(messageOf({ message: 7 })).toBe('[object Object]');
  });
});
