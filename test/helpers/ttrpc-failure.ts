/**
 * What a failed ttrpc call rejected with, for tests that compare codes: the rejection must be a
 * TtrpcError (a status from the wire, or one the client made up), never a plain Error.
 */
import { expect } from 'vitest';
import { TtrpcError } from '../../src/ttrpc/codes.js';
import { rejectionOf } from './async.js';

export async function ttrpcFailure(call: Promise<unknown>): Promise<TtrpcError> {
  const err = await rejectionOf(call);
  expect(err).toBeInstanceOf(TtrpcError);
  return err as TtrpcError;
}
