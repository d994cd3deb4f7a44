/** What a synchronous call threw, checked to be of class `type` (fails the test if it threw something else or nothing). */
import { expect } from 'vitest';

export function thrownBy<E extends Error>(fn: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error(`expected a ${type.name}, but nothing was thrown`);
}
