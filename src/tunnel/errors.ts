/**
 * Failures of the agent tunnel (the worker's proxy to the forwarder in the VM), each with a stable
 * `code`. Their messages are what operators read (docs/operations.md quotes them); the code says which
 * case it is. The shim answers StartVM with INTERNAL for all of them, as before they had codes.
 */
import { codedError } from '../util/coded-error.js';

/**
 * - `FORWARDER_UNREACHABLE`: the forwarder did not answer on its port within PROXY_TIMEOUT (not listening,
 *   a VM still booting, no route, TLS refused).
 * - `IDENTITY_MISMATCH`: the forwarder at the instance's address serves another sandbox (the cause is the
 *   ForwarderIdentityError).
 * - `CANCELLED`: the caller's signal ended the wait for the forwarder (a StopVM, the StartVM deadline).
 * - `CLOSED`: the tunnel was closed while it was starting.
 * - `NO_ADDRESS`: the instance has no IP address to dial.
 * - `INVALID_ARGUMENT`: a mistake in how the tunnel was set up (a relay hook key that is not
 *   `service/method`): a bug in the daemon, not a condition of the VM or of the network.
 */
export class TunnelError extends codedError('TunnelError', ['FORWARDER_UNREACHABLE', 'IDENTITY_MISMATCH', 'CANCELLED', 'CLOSED', 'NO_ADDRESS', 'INVALID_ARGUMENT']) {}

export type TunnelErrorCode = TunnelError['code'];

export const isTunnelError = (err: unknown, code?: TunnelErrorCode): err is TunnelError => TunnelError.is(err, code);
