/**
 * Which sandbox a forwarder serves, asked by the agent proxy on every (re)connection — a check that
 * holds whatever TLS does. The certificate's name proves the VM's identity only while the daemon
 * verifies it; with TLS_SKIP_VERIFY or DISABLE_TLS, an address that now belongs to another VM (a
 * reused cloud address, two local instances given one address) would lead the proxy to another
 * pod's agent. So the forwarder answers one method of its own, never relayed to the agent:
 *
 *   caa.peerpod.Forwarder/Identity   request: empty   response: google.protobuf.StringValue (the sandbox id)
 *
 * The sandbox id reaches the VM in apf.json (`sandbox-id`). Only the proxy ↔ forwarder link sees
 * this call: the shim ↔ proxy protocol is the Kata agent's, unchanged. A forwarder that does not
 * know the method (an older one, or the upstream Go forwarder, which passes it to the agent)
 * answers with an error status: that forwarder cannot be checked, and is accepted (see
 * docs/tunnel.md). This is a routing check against wrong addresses, not an authentication: the
 * forwarder's certificate (verified) and the daemon's client certificate (always required by the
 * forwarder) are that.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { StringValueSchema } from '@bufbuild/protobuf/wkt';
import type { TtrpcClient } from '../ttrpc/client.js';
import { TtrpcError } from '../ttrpc/codes.js';
import { singleCodeError } from '../util/coded-error.js';

export const IDENTITY_SERVICE = 'caa.peerpod.Forwarder';
export const IDENTITY_METHOD = 'Identity';

/** Longest sandbox id quoted from a forwarder's answer (ids are 64 hex characters). */
const MAX_SHOWN = 80;

/** The forwarder's handler: answers with its sandbox id ('' when apf.json named none). */
export function identityResponse(sandboxId: string): Uint8Array {
  return toBinary(StringValueSchema, create(StringValueSchema, { value: sandboxId }));
}

/** The forwarder at the address serves another sandbox: never use this connection. */
export class ForwarderIdentityError extends singleCodeError('ForwarderIdentityError', 'FORWARDER_MISMATCH') {
  constructor(
    readonly expected: string,
    readonly found: string,
  ) {
    super(`the forwarder there serves sandbox ${found.length > MAX_SHOWN ? `${found.slice(0, MAX_SHOWN)}…` : found}, not ${expected}`);
  }
}

export type IdentityCheck =
  /** The forwarder named the expected sandbox. */
  | { kind: 'confirmed' }
  /** The forwarder cannot say (older forwarder, or a VM whose apf.json has no sandbox-id); why. */
  | { kind: 'unproven'; reason: string };

/**
 * Asks the forwarder behind `client` which sandbox it serves. Resolves `confirmed` or `unproven`;
 * throws ForwarderIdentityError when it names another sandbox, and the call's own error when the
 * connection failed or `signal` ended (a failed dial attempt: the caller retries).
 */
export async function checkForwarderIdentity(client: TtrpcClient, expected: string, signal: AbortSignal): Promise<IdentityCheck> {
  let answer: Buffer;
  try {
    answer = await client.call(IDENTITY_SERVICE, IDENTITY_METHOD, new Uint8Array(0), { signal });
  } catch (err) {
    // An answer with an error status (UNIMPLEMENTED, or whatever the agent or policy behind an
    // older forwarder said) means "does not know the method"; a lost connection or the end of
    // the attempt means nothing was learnt.
    if (signal.aborted || client.isClosed || !(err instanceof TtrpcError)) throw err;
    return { kind: 'unproven', reason: `the forwarder does not answer ${IDENTITY_SERVICE}/${IDENTITY_METHOD} (${err.message})` };
  }
  let found: string;
  try {
    found = fromBinary(StringValueSchema, answer).value;
  } catch {
    throw new ForwarderIdentityError(expected, '(an unreadable answer)');
  }
  if (found === '') return { kind: 'unproven', reason: 'the forwarder was not told its sandbox id (apf.json without sandbox-id)' };
  if (found !== expected) throw new ForwarderIdentityError(expected, found);
  return { kind: 'confirmed' };
}
