/**
 * Watching an instance after POST /instances: IBM answers 201 with the instance `pending`; it then
 * becomes `running`, or `failed` with a reason (e.g. `cannot_start_capacity`: capacity errors arrive
 * here, not as an error of the create call). Deletion is asynchronous too: `deleting`, then gone.
 */
import { ProviderError, isProviderError } from '../errors.js';
import { Backoff, sleep } from '../../util/backoff.js';
import type { VpcApi } from './client.js';
import type { StatusReason, VpcInstance } from './vpc-types.js';
import { timeoutSignal } from '../../util/timers.js';

/** How long an instance may take to run with an address (upstream polls 10 × 2 s for the address alone). */
export const READY_WAIT_MS = 300_000;
/** How long a deleted instance may take to disappear (its name is held until then). */
export const GONE_WAIT_MS = 120_000;

export type Readiness = { instance: VpcInstance; ips: string[] } | { failed: StatusReason };

/** Private addresses, the primary interface's first; `0.0.0.0` means not assigned yet. */
export function addressesOf(i: VpcInstance): string[] {
  const ips: string[] = [];
  const add = (a: string | undefined): void => {
    if (a && a !== '0.0.0.0' && !ips.includes(a)) ips.push(a);
  };
  add(i.primary_network_interface?.primary_ip?.address);
  for (const nic of i.network_interfaces ?? []) if (nic.id !== i.primary_network_interface?.id) add(nic.primary_ip?.address);
  return ips;
}

function deadlineError(signal: AbortSignal, id: string, what: string, ms: number): ProviderError {
  if (signal.aborted) return new ProviderError('CANCELLED', `cancelled while waiting for instance ${id} to ${what}`);
  return new ProviderError('UNAVAILABLE', `instance ${id} did not ${what} within ${ms / 1000}s`);
}

/**
 * Polls until the instance runs with an address (→ its IPs) or has failed (→ IBM's reason). The first
 * poll is immediate: the caller has already spent a request (the tag attach) since the create.
 */
export async function waitReady(api: VpcApi, created: VpcInstance, signal: AbortSignal, waitMs = READY_WAIT_MS): Promise<Readiness> {
  const deadline = AbortSignal.any([signal, timeoutSignal(waitMs)]);
  const backoff = new Backoff({ initialMs: 250, maxMs: 2_000 });
  let inst = created;
  for (let polls = 0; ; polls++) {
    if (inst.status === 'failed') return { failed: inst.status_reasons?.[0] ?? { code: 'unknown', message: 'IBM gave no reason' } };
    if (inst.status === 'deleting') throw new ProviderError('UNAVAILABLE', `instance ${inst.id} is being deleted`);
    const ips = addressesOf(inst);
    if (inst.status === 'running' && ips.length > 0) return { instance: inst, ips };
    try {
      if (polls > 0) await sleep(backoff.next(), deadline);
      inst = await api.getInstance(created.id, deadline).catch((err: unknown) => {
        // Eventual consistency: a new instance can be unknown to GET for a moment.
        if (isProviderError(err, 'NOT_FOUND')) return inst;
        throw err;
      });
    } catch (err) {
      if (deadline.aborted) throw deadlineError(signal, created.id, `run with a private address (status ${inst.status})`, waitMs);
      throw err;
    }
  }
}

/** Polls until GET says 404 (the name is free again). */
export async function waitGone(api: VpcApi, id: string, signal: AbortSignal, waitMs = GONE_WAIT_MS): Promise<void> {
  const deadline = AbortSignal.any([signal, timeoutSignal(waitMs)]);
  const backoff = new Backoff({ initialMs: 250, maxMs: 2_000 });
  for (;;) {
    try {
      await api.getInstance(id, deadline);
      await sleep(backoff.next(), deadline);
    } catch (err) {
      if (isProviderError(err, 'NOT_FOUND')) return;
      if (deadline.aborted) throw deadlineError(signal, id, 'disappear after its deletion', waitMs);
      throw err;
    }
  }
}
