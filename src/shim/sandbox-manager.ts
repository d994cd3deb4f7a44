/**
 * The remote hypervisor's behaviour (reference §3.3–3.5, §3.12), independent of the wire: CreateVM
 * prepares a sandbox without touching the cloud, StartVM creates the instance and opens the agent
 * tunnel, StopVM answers at once and deletes in the background. Every step is written to disk
 * first, so a restarted daemon converges (`recover`).
 *
 * Concurrency: calls for different sandboxes run in parallel. For one sandbox, StopVM may arrive
 * while StartVM is still creating: it aborts the start, and the start's own cleanup deletes
 * whatever was created.
 */
import { messageOf } from '../util/errors.js';
import type { Logger } from 'pino';
import { asProviderError, isProviderError } from '../providers/errors.js';
import { instanceName, instanceTags, sandboxTags } from '../providers/naming.js';
import type { Instance, Provider } from '../providers/provider.js';
import { checkUnixSocketPath } from '../ttrpc/unix-socket.js';
import { isOwnNetns } from '../util/netns-identity.js';
import { Code, TtrpcError } from '../ttrpc/codes.js';
import { isHostNetnsRefusal, type AgentTunnel, type ObservedSandbox, type PodNetwork, type SandboxObserver } from './ports.js';
import { Annotation, instanceSpec, podIdentity, podInitdata, validateSandboxId } from './annotations.js';
import { parseInitdata } from '../podvm/initdata.js';
import { ShimError } from './errors.js';
import { PROVIDER_STATUS } from './provider-codes.js';
import type { InstanceReclaimer } from './instance-reclaimer.js';
import { PodVmWaiters } from './pod-vm-waiters.js';
import { IllegalTransitionError, adoptSavedState, isAllowedMove, type LifecycleStep } from './sandbox-lifecycle.js';
import type { SandboxPhase, SandboxState, SandboxStore } from './sandbox-store.js';
import { combineObservers } from './sandbox-observer.js';
import { VniAllocator } from './vni-allocator.js';
import { timeoutSignal } from '../util/timers.js';

/**
 * The daemon's own bounds on pod network calls: `prepare` (CreateVM's inspection, when the call's
 * deadline is later or absent) and `disconnect` (the removal once the instances are deleted).
 */
const POD_NETWORK_TIMEOUT_MS = { prepare: 30_000, disconnect: 30_000 } as const;

export interface SandboxManagerOptions {
  store: SandboxStore;
  provider: Provider;
  tunnel: AgentTunnel;
  reclaimer: InstanceReclaimer;
  logger: Logger;
  /**
   * The cloud-config for the sandbox's VM (issues the VM's TLS server certificate, reads the pod's
   * image-pull secrets). `signal` is the StartVM's: its deadline, or a StopVM, aborts it.
   */
  buildUserData(state: SandboxState, signal: AbortSignal): Promise<string>;
  clusterName: string;
  nodeName: string;
  externalNetworkViaPodvm: boolean;
  /** How long a failed StartVM keeps trying to delete its instance (upstream: 10 minutes). */
  startFailureCleanupTimeoutMs: number;
  /** How long a restarted daemon keeps trying to reach the forwarder of a re-adopted sandbox. */
  tunnelReopenTimeoutMs?: number;
  /** Pod networking; undefined: VMs get no pod network (apf.json `pod-network: null`). */
  podNetwork?: PodNetwork;
  /** VNI of index 0 (VXLAN_MIN_ID). */
  vxlanMinId?: number;
  /** Told about instance creations, StartVM phases and failures, deletions. */
  observers?: readonly SandboxObserver[];
}

export interface CreateVMInput {
  id: string;
  annotations: Readonly<Record<string, string>>;
  networkNamespacePath: string;
}

interface Sandbox {
  /**
   * Saved changes go through `transition` (a phase) and `record` (within a phase). Set directly, in
   * memory only until the next of those: `intent` by StopVM, an instance a failed start hands to its clean-up.
   */
  state: SandboxState;
  log: Logger;
  /** Aborts an in-flight StartVM (StopVM sets it off). */
  startAbort?: AbortController;
}

/**
 * What a failed save does: `throw` keeps the change in memory and rethrows the store's ShimError;
 * `undo` puts back what was there and rethrows (the disk still says the old phase); `{ log }` logs
 * "could not record <log>" and goes on.
 */
type OnSaveError = 'throw' | 'undo' | { log: string };

export class SandboxManager {
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly waiters = new PodVmWaiters();
  /** StartVM calls still running (whenSettled waits for them). */
  private readonly startsInFlight = new Set<Promise<void>>();
  /** Background deletions with their follow-up (state change, folder removal). */
  private readonly background = new Set<Promise<void>>();
  /** VNIs: those of every sandbox held (re-adopted ones too), and those of CreateVMs still inspecting their namespace. */
  private readonly vnis: VniAllocator;
  /** Ids whose saved state could not be read at `recover` (their folders are left for an operator). */
  private readonly unreadable = new Map<string, { file: string; reason: string }>();
  /** Aborted by `stop()`: tunnel re-opens of re-adopted sandboxes, pod network removals. */
  private readonly stopping = new AbortController();
  private readonly log: Logger;
  private readonly observe: Required<SandboxObserver>;

  constructor(private readonly o: SandboxManagerOptions) {
    this.log = o.logger.child({ component: 'sandbox' });
    this.observe = combineObservers(o.observers ?? [], (err) => this.log.error({ err }, 'a sandbox observer threw'));
    this.vnis = new VniAllocator(() => [...this.sandboxes.values()].flatMap((s) => (s.state.network ? [s.state.network.index] : [])), o.vxlanMinId);
  }

  /**
   * Ids of every sandbox this daemon holds, whatever its phase (the leak reaper's notion of "owned"),
   * and of those whose state could not be read: their folders are left for an operator, and so are
   * their instances — the reaper must not delete a pod's VM because its state file is unfamiliar.
   */
  sandboxIds(): Set<string> {
    return new Set([...this.sandboxes.keys(), ...this.unreadable.keys()]);
  }

  /** Ids of the instances the sandboxes know. */
  instanceIds(): Set<string> {
    const ids = new Set<string>();
    for (const sb of this.sandboxes.values()) if (sb.state.instance?.id) ids.add(sb.state.instance.id);
    return ids;
  }

  /** Sandboxes by phase (metrics). */
  countByPhase(): Record<SandboxState['phase'], number> {
    const out = { created: 0, creating: 0, running: 0, stopping: 0 };
    for (const sb of this.sandboxes.values()) out[sb.state.phase]++;
    return out;
  }

  get size(): number {
    return this.sandboxes.size;
  }

  /** GetInfo calls waiting (with `Wait`) for a pod's VM. */
  get getInfoWaiting(): number {
    return this.waiters.size;
  }

  /** A copy of one sandbox's state (tests, diagnostics). */
  get(id: string): SandboxState | undefined {
    const sb = this.sandboxes.get(id);
    return sb ? structuredClone(sb.state) : undefined;
  }

  // ---- CreateVM ----------------------------------------------------------------------------

  /** `signal`: the call's (its deadline, or the caller gone); it bounds the pod network inspection. */
  async createVM(input: CreateVMInput, signal: AbortSignal): Promise<{ agentSocketPath: string }> {
    const { id, annotations, networkNamespacePath } = input;
    validateSandboxId(id);
    const agentSocketPath = this.o.store.agentSocketPath(id);
    try {
      checkUnixSocketPath(agentSocketPath);
    } catch (err) {
      throw new ShimError('INVALID_ARGUMENT', `sandbox id too long for PODS_DIR: ${messageOf(err)}`);
    }
    const { podName, podNamespace } = podIdentity(annotations);
    const spec = instanceSpec(annotations, this.o.externalNetworkViaPodvm);
    const initdata = podInitdata(annotations);
    if (initdata !== '') {
      try {
        parseInitdata(initdata);
      } catch (err) {
        throw new ShimError('INVALID_ARGUMENT', `annotation ${Annotation.CC_INIT_DATA}: ${messageOf(err)}`);
      }
    }
    if (networkNamespacePath !== '' && (!networkNamespacePath.startsWith('/') || networkNamespacePath.includes('\0'))) {
      throw new ShimError('INVALID_ARGUMENT', `networkNamespacePath ${JSON.stringify(networkNamespacePath.slice(0, 300))} is not an absolute path`);
    }
    await this.refuseHostNetns(networkNamespacePath);
    if (this.sandboxes.has(id)) throw new ShimError('ALREADY_EXISTS', `sandbox ${id} already exists`);

    const now = new Date().toISOString();
    const state: SandboxState = {
      version: 1,
      id,
      podName,
      podNamespace,
      netnsPath: networkNamespacePath,
      instanceName: instanceName(podName, id),
      spec,
      initdata,
      phase: 'created',
      intent: 'run',
      createdAt: now,
      updatedAt: now,
    };
    const sb: Sandbox = { state, log: this.sandboxLogger(state) };
    // Claimed in memory before the first await, so two concurrent CreateVMs for one id cannot both win.
    this.sandboxes.set(id, sb);
    try {
      if (networkNamespacePath !== '' && this.o.podNetwork) await this.planNetwork(state, this.o.podNetwork, signal);
      await this.o.store.create(state);
    } catch (err) {
      this.sandboxes.delete(id);
      throw err;
    }
    this.unreadable.delete(id); // an operator cleared the unreadable folder: the id is an ordinary one again
    // Upstream e2e suites grep this exact line.
    sb.log.info(
      { instanceName: state.instanceName, spec },
      `create a sandbox ${id} for pod ${podName} in namespace ${podNamespace} (netns: ${networkNamespacePath})`,
    );
    return { agentSocketPath };
  }

  /**
   * The daemon's own network namespace (the host's: the daemon runs with hostNetwork) is no pod's:
   * StartVM would bridge the host's default-route interface into the pod's VXLAN. Compared by
   * identity, so `/proc/1/ns/net`, a bind mount or a symlink of it are refused too.
   */
  private async refuseHostNetns(netnsPath: string): Promise<void> {
    if (netnsPath === '' || !(await isOwnNetns(netnsPath))) return;
    throw new ShimError(
      'INVALID_ARGUMENT',
      `networkNamespacePath ${JSON.stringify(netnsPath.slice(0, 300))} is the daemon's own (host) network namespace; a peer pod needs a network namespace of its own`,
    );
  }

  /**
   * Takes a VNI and inspects the pod's namespace into `state.network`. The VNI stays reserved until
   * the sandbox records it, so concurrent CreateVMs differ. The inspection ends at the call's deadline
   * or after its bound (POD_NETWORK_TIMEOUT_MS), whichever comes first.
   */
  private async planNetwork(state: SandboxState, podNetwork: PodNetwork, callSignal: AbortSignal): Promise<void> {
    const lease = this.vnis.reserve();
    try {
      const signal = AbortSignal.any([callSignal, timeoutSignal(POD_NETWORK_TIMEOUT_MS.prepare)]);
      const config = await podNetwork.prepare(state.netnsPath, lease.vni, lease.index, signal);
      state.network = { index: lease.index, vni: lease.vni, config };
    } catch (err) {
      if (callSignal.aborted) throw callEnded(callSignal, 'CreateVM', err);
      if (isHostNetnsRefusal(err)) throw new ShimError('INVALID_ARGUMENT', err.message, { cause: err });
      throw new ShimError('FAILED_PRECONDITION', `pod network of ${state.netnsPath}: ${messageOf(err)}`, { cause: err });
    } finally {
      lease.release();
    }
  }

  // ---- StartVM -----------------------------------------------------------------------------

  async startVM(id: string, signal: AbortSignal): Promise<void> {
    const call = this.startVMCall(id, signal);
    this.startsInFlight.add(call);
    try {
      return await call;
    } finally {
      this.startsInFlight.delete(call);
    }
  }

  /**
   * Resolves once no StartVM is running and the background work is done. The daemon's stop waits for
   * this before it lets PODS_DIR go: a StartVM aborted at the end of the grace period still writes its
   * state and schedules its clean-up while it unwinds.
   */
  async whenSettled(): Promise<void> {
    while (this.startsInFlight.size > 0) await Promise.allSettled([...this.startsInFlight]);
    await this.whenIdle();
  }

  private async startVMCall(id: string, signal: AbortSignal): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) throw new ShimError('NOT_FOUND', `getting sandbox: sandbox ${id} does not exist`);
    // A state saved before CreateVM refused the host's namespace must not get it wired now. (Before
    // the checks below: nothing may await between them and the move to `creating`.)
    if (sb.state.network && this.o.podNetwork) await this.refuseHostNetns(sb.state.netnsPath);
    if (sb.state.intent === 'remove') throw new ShimError('FAILED_PRECONDITION', `sandbox ${id} is being stopped`);
    if (sb.state.phase !== 'created') {
      throw new ShimError('FAILED_PRECONDITION', `sandbox ${id} cannot start: it is ${sb.state.phase}`);
    }
    const { state, log } = sb;
    const startAbort = new AbortController();
    sb.startAbort = startAbort;
    const callSignal = AbortSignal.any([signal, startAbort.signal]);
    const started = performance.now();

    try {
      // Written before the cloud is asked: a crash from here on may leave an instance to find by tags.
      // On failure nothing was asked of the cloud: back to `created` (what the disk still says), so a
      // retry once the disk is fixed can start it, and a StopVM that came meanwhile can remove it.
      await this.transition(sb, 'creating', {}, 'undo');
    } catch (err) {
      sb.startAbort = undefined;
      log.error({ err }, `StartVM failed for sandbox ${id}: its intent could not be recorded`);
      if (state.intent === 'remove') await this.removeSandbox(sb).catch((e: unknown) => log.error({ err: e }, `sandbox ${id} could not be removed`));
      throw err;
    }

    const who = observed(state);
    try {
      let instance: Instance;
      const createStarted = performance.now();
      try {
        const userData = await this.o.buildUserData(state, callSignal);
        callSignal.throwIfAborted(); // a builder that finished despite the abort must not lead to a create
        instance = await this.o.provider.createInstance(
          {
            sandboxId: id,
            podName: state.podName,
            podNamespace: state.podNamespace,
            instanceName: state.instanceName,
            userData,
            spec: state.spec,
            tags: instanceTags({ ...this.identity(), sandboxId: id, podName: state.podName, podNamespace: state.podNamespace }),
            logger: log,
          },
          callSignal,
        );
      } catch (err) {
        const perr = asProviderError(err, callSignal);
        // Held in memory for the clean-up, whose move to `stopping` saves it.
        if (perr.partialInstanceId) state.instance = { id: perr.partialInstanceId, name: state.instanceName, ips: [] };
        this.observe.instanceCreateFailed(who, perr.code, perr.message, performance.now() - createStarted);
        throw perr;
      }
      this.observe.instanceCreated(who, instance, performance.now() - createStarted);
      this.observe.startPhase(who, 'create_instance', performance.now() - createStarted);
      if (instance.ips.length === 0) {
        state.instance = instance; // for the clean-up, as above
        throw new ShimError('INTERNAL', `instance ${instance.id} has no IP address`);
      }
      await this.transition(sb, 'running', { instance }, 'throw');
      this.waiters.notify(state, instance.id);
      log.info(
        { instanceId: instance.id, ips: instance.ips, instanceType: instance.instanceType, createMs: Math.round(performance.now() - started) },
        `created instance ${instance.id} (${state.instanceName}) for sandbox ${id}`,
      );
      callSignal.throwIfAborted();
      if (state.network && this.o.podNetwork) {
        const t = performance.now();
        await this.o.podNetwork.connect(state.netnsPath, state.network.config, instance.ips[0]!, callSignal);
        await this.record(sb, { networkConnected: true }, 'throw');
        this.observe.startPhase(who, 'pod_network', performance.now() - t);
      }
      const t = performance.now();
      await this.openTunnelWatchingInstance(id, state.instanceName, instance, callSignal);
      this.observe.startPhase(who, 'agent_tunnel', performance.now() - t);
      this.observe.startPhase(who, 'total', performance.now() - started);
      log.info({ totalMs: Math.round(performance.now() - started) }, `sandbox ${id} started`);
    } catch (err) {
      const reason = this.startFailure(err, callSignal, signal);
      log.error({ err: reason, code: reason.code, instanceId: state.instance?.id }, `StartVM failed for sandbox ${id}`);
      this.observe.startFailed(who, reason.message);
      this.cleanupFailedStart(sb);
      throw reason;
    } finally {
      sb.startAbort = undefined;
    }
  }

  /**
   * Opens the agent tunnel while the provider (when it can) watches the instance: a VM that stops
   * before its forwarder answers ends the wait at once with the provider's account of it.
   */
  private async openTunnelWatchingInstance(id: string, instanceName: string, instance: Instance, callSignal: AbortSignal): Promise<void> {
    const watchEnd = new AbortController();
    const openSignal = AbortSignal.any([callSignal, watchEnd.signal]);
    let exited: string | undefined;
    this.o.provider
      .watchForExit?.(instance, openSignal)
      .then((reason) => {
        if (reason === undefined || openSignal.aborted) return;
        exited = reason;
        watchEnd.abort();
      })
      // The contract says it never rejects; a provider that does must not take the daemon down.
      .catch((err: unknown) => this.log.warn({ err: messageOf(err), instanceId: instance.id }, 'watching the instance failed'));
    try {
      await this.o.tunnel.open({ sandboxId: id, socketPath: this.o.store.agentSocketPath(id), instance, instanceName }, openSignal);
    } catch (err) {
      if (exited !== undefined && !callSignal.aborted) {
        throw new ShimError('UNAVAILABLE', `pod VM ${instanceName} (${instance.id}) stopped before its agent-protocol-forwarder answered: ${exited}`, { cause: err });
      }
      throw err;
    } finally {
      watchEnd.abort();
    }
  }

  /** Names the cause: the shim's deadline, a StopVM, or the provider's or tunnel's own error. */
  private startFailure(err: unknown, callSignal: AbortSignal, shimSignal: AbortSignal): ShimError {
    if (shimSignal.aborted) return callEnded(shimSignal, 'StartVM', err);
    if (callSignal.aborted) return new ShimError('CANCELLED', 'StartVM cancelled: StopVM was called', { cause: err });
    if (err instanceof ShimError) return err;
    if (isProviderError(err)) {
      return new ShimError(PROVIDER_STATUS[err.code], `creating the pod VM failed (${err.code}): ${err.message}`, { cause: err });
    }
    return new ShimError('INTERNAL', `StartVM failed: ${messageOf(err)}`, { cause: err });
  }

  /**
   * After a failed start: close the tunnel and delete what may exist, detached from the caller. The
   * intent decides what follows the deletion: `remove` (a StopVM came) or back to `created`.
   */
  private cleanupFailedStart(sb: Sandbox): void {
    void this.o.tunnel.close(sb.state.id);
    // In `stopping` at once (before any await): a StopVM or the daemon's stop sees it.
    this.inBackground(this.stopAndReclaim(sb, {}, this.o.startFailureCleanupTimeoutMs));
  }

  /** Moves the sandbox to `stopping` (saved, or logged when the disk refuses) and deletes its instances. */
  private async stopAndReclaim(sb: Sandbox, patch: Partial<SandboxState>, timeoutMs?: number): Promise<void> {
    await this.toStopping(sb, patch, { log: 'the stopping state' });
    await this.reclaim(sb, timeoutMs);
  }

  /** `stopping` from any phase that may delete; a sandbox already there only records `patch`. */
  private toStopping(sb: Sandbox, patch: Partial<SandboxState>, onSaveError: OnSaveError): Promise<void> {
    return sb.state.phase === 'stopping' ? this.record(sb, patch, onSaveError) : this.transition(sb, 'stopping', patch, onSaveError);
  }

  // ---- StopVM ------------------------------------------------------------------------------

  /**
   * Idempotent and prompt: records the intent, starts the deletion in the background and returns.
   * Stopping an unknown sandbox is success (it may be the second StopVM of a retrying shim).
   */
  async stopVM(id: string): Promise<void> {
    const sb = this.sandboxes.get(id);
    if (!sb) {
      const unreadable = this.unreadable.get(id);
      if (unreadable) {
        this.log.warn({ sandbox: id, ...unreadable }, `StopVM for sandbox ${id}, whose state ${unreadable.file} could not be read; its folder is left for an operator`);
      } else {
        this.log.info({ sandbox: id }, `StopVM for unknown sandbox ${id}: nothing to do`);
      }
      return;
    }
    const { state, log } = sb;
    // In memory at once, so a StartVM unwinding from the abort below sees it; saved by the steps below.
    state.intent = 'remove';
    sb.startAbort?.abort(new ShimError('CANCELLED', 'StopVM was called'));
    await this.o.tunnel.close(id);
    log.info({ phase: state.phase, instanceId: state.instance?.id }, `stopping sandbox ${id}`);
    switch (state.phase) {
      case 'created':
        await this.removeSandbox(sb);
        return;
      case 'creating':
        // StartVM is unwinding after the abort above; its clean-up reads the intent.
        await this.record(sb, { intent: 'remove' }, { log: 'the stop request' });
        return;
      case 'running':
      case 'stopping':
        // The deletion goes ahead even when the disk refuses the record: a full disk must not
        // keep a cloud instance alive. Only a crash before it ends would forget the request.
        await this.toStopping(sb, { intent: 'remove' }, { log: 'the stop request' });
        this.inBackground(this.reclaim(sb));
        return;
    }
  }

  // ---- state changes -----------------------------------------------------------------------

  /**
   * The one way a sandbox's phase changes: checks `phase → to` against SANDBOX_MOVES (an illegal move
   * is a bug: logged at error level and thrown, nothing changed), applies `patch` and the phase in
   * memory before the first await (a concurrent call sees them), and saves once.
   */
  private async transition(sb: Sandbox, to: SandboxPhase, patch: Partial<SandboxState>, onSaveError: OnSaveError): Promise<void> {
    this.checkMove(sb, to);
    await this.record(sb, { ...patch, phase: to }, onSaveError);
  }

  /** Applies `patch` (a key set to undefined is removed) and saves once; `transition` for a phase change. */
  private async record(sb: Sandbox, patch: Partial<SandboxState>, onSaveError: OnSaveError): Promise<void> {
    const { state } = sb;
    const before = Object.fromEntries(Object.keys(patch).map((k) => [k, state[k as keyof SandboxState]])) as Partial<SandboxState>;
    applyPatch(state, patch);
    try {
      await this.o.store.save(state);
    } catch (err) {
      if (onSaveError === 'throw') throw err;
      if (onSaveError === 'undo') {
        applyPatch(state, before);
        throw err;
      }
      sb.log.error({ err }, `could not record ${onSaveError.log} of sandbox ${state.id}; going on without it`);
    }
  }

  private checkMove(sb: Sandbox, to: LifecycleStep): void {
    const from = sb.state.phase;
    if (isAllowedMove(from, to)) return;
    const err = new IllegalTransitionError(sb.state.id, from, to);
    sb.log.error({ err, from, to }, `BUG: ${err.message}`);
    throw err;
  }

  private inBackground(task: Promise<void>): void {
    const p = task.catch((err: unknown) => this.log.error({ err }, 'background sandbox task failed'));
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Resolves when no background deletion (and its follow-up) is running. */
  async whenIdle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Deletes a `stopping` sandbox's instances and moves it on when they are gone (as its intent says). */
  private async reclaim(sb: Sandbox, timeoutMs?: number): Promise<void> {
    const { state } = sb;
    const done = await this.o.reclaimer.reclaim({
      sandboxId: state.id,
      instanceId: state.instance?.id,
      // Without a known id, an interrupted create may still have made one: look it up by tags.
      searchTags: state.instance?.id ? undefined : sandboxTags({ ...this.identity(), sandboxId: state.id }),
      timeoutMs,
      logger: sb.log,
    });
    if (!done || this.sandboxes.get(state.id) !== sb) return;
    this.observe.instancesDeleted(observed(state), state.instance?.id);
    if (!(await this.disconnectNetwork(sb))) return;
    // A second StopVM joins the first's deletion: whichever gets here first moves the sandbox on.
    if (this.sandboxes.get(state.id) !== sb || state.phase !== 'stopping') return;
    if (state.intent === 'remove') {
      await this.removeSandbox(sb);
    } else {
      await this.transition(sb, 'created', { instance: undefined }, 'throw');
    }
  }

  /**
   * Removes the worker side of the pod network (idempotent; errors logged, never thrown), within its
   * bound (POD_NETWORK_TIMEOUT_MS). False when the daemon's stop cut it short: the state stays `stopping` with
   * the network recorded, and the next daemon finishes the job.
   */
  private async disconnectNetwork(sb: Sandbox): Promise<boolean> {
    const { state } = sb;
    if (!state.network || !this.o.podNetwork || !state.networkConnected || !state.instance) return true;
    const signal = AbortSignal.any([this.stopping.signal, timeoutSignal(POD_NETWORK_TIMEOUT_MS.disconnect)]);
    try {
      await this.o.podNetwork.disconnect(state.netnsPath, state.network.config, state.instance.ips[0] ?? '', signal);
      await this.record(sb, { networkConnected: false }, 'throw');
      sb.log.info({ vni: state.network.vni }, `pod network of sandbox ${state.id} removed`);
    } catch (err) {
      if (this.stopping.signal.aborted) {
        sb.log.warn({ err }, `removing the pod network of sandbox ${state.id} was cut short by the daemon's stop; the next daemon finishes it`);
        return false;
      }
      sb.log.error({ err }, `removing the pod network of sandbox ${state.id} failed`);
    }
    return true;
  }

  private async removeSandbox(sb: Sandbox): Promise<void> {
    const { id } = sb.state;
    this.checkMove(sb, 'removed');
    this.sandboxes.delete(id);
    try {
      await this.o.store.remove(id);
    } catch (err) {
      // Still known, so a retried StopVM tries again (the folder is still there).
      if (!this.sandboxes.has(id)) this.sandboxes.set(id, sb);
      throw err;
    }
    sb.log.info(`sandbox ${id} removed`);
  }

  // ---- PodVMInfo ---------------------------------------------------------------------------

  /**
   * The instance id of the pod's VM. With `wait`, blocks until StartVM records one or `signal`
   * aborts (the caller's deadline); without, NOT_FOUND when there is none yet.
   */
  async getInfo(podName: string, podNamespace: string, wait: boolean, signal: AbortSignal): Promise<string> {
    for (const sb of this.sandboxes.values()) {
      const s = sb.state;
      if (s.podName === podName && s.podNamespace === podNamespace && s.instance && s.phase === 'running') return s.instance.id;
    }
    if (!wait) throw new ShimError('NOT_FOUND', `no pod VM for pod ${podNamespace}/${podName}`);
    return this.waiters.wait({ podName, podNamespace }, signal);
  }

  // ---- restart -----------------------------------------------------------------------------

  /**
   * Loads every saved sandbox and converges: `created` and `running` are adopted, `creating` has
   * whatever it may have made deleted (and goes back to `created`), `stopping` finishes its delete.
   * Deletions run in the background; call `reclaimer.whenIdle()` to wait for them.
   */
  async recover(): Promise<{ adopted: number; reclaiming: number }> {
    const loaded = await this.o.store.loadAll();
    for (const u of loaded.unreadable) {
      this.unreadable.set(u.id, { file: u.file, reason: u.reason });
      this.log.error({ sandbox: u.id, dir: u.dir, file: u.file, reason: u.reason }, `cannot read sandbox state ${u.file}: ${u.reason}; left as it is`);
    }
    for (const d of loaded.removedEmpty) this.log.warn({ dir: d }, `removed sandbox folder ${d} that had no state`);
    let adopted = 0;
    let reclaiming = 0;
    for (const saved of loaded.states) {
      const state = adoptSavedState(saved); // a file of the previous version too (sandbox-lifecycle.ts)
      const sb: Sandbox = { state, log: this.sandboxLogger(state) };
      this.sandboxes.set(state.id, sb);
      switch (state.phase) {
        case 'created':
          adopted++;
          sb.log.info({ phase: state.phase }, `re-adopted sandbox ${state.id}`);
          break;
        case 'running':
          adopted++;
          sb.log.info({ phase: state.phase, instanceId: state.instance?.id }, `re-adopted sandbox ${state.id}`);
          void this.reopenTunnel(sb);
          break;
        case 'creating':
          sb.log.warn(`sandbox ${state.id} was mid-create when the daemon stopped; deleting what it may have created`);
          reclaiming++;
          // Back to `created` afterwards, also when a StopVM was recorded mid-create (as ever: `run`).
          this.inBackground(this.stopAndReclaim(sb, { intent: 'run' }));
          break;
        case 'stopping':
          sb.log.info(`finishing the deletion of sandbox ${state.id}`);
          reclaiming++;
          this.inBackground(this.reclaim(sb));
          break;
      }
    }
    return { adopted, reclaiming };
  }

  /** The shim of a running pod reconnects to agent.ttrpc after a daemon restart: serve it again. */
  private async reopenTunnel(sb: Sandbox): Promise<void> {
    const { state } = sb;
    if (!state.instance) return;
    const signal = AbortSignal.any([this.stopping.signal, timeoutSignal(this.o.tunnelReopenTimeoutMs ?? 300_000)]);
    try {
      await this.o.tunnel.open(
        { sandboxId: state.id, socketPath: this.o.store.agentSocketPath(state.id), instance: state.instance, instanceName: state.instanceName },
        signal,
      );
      sb.log.info(`agent tunnel of sandbox ${state.id} re-opened`);
    } catch (err) {
      if (!this.stopping.signal.aborted) {
        sb.log.error({ err }, `could not re-open the agent tunnel of sandbox ${state.id}`);
      }
    }
  }

  /** Stops background work that must not outlive the daemon (tunnel re-opens, pod network removals). */
  stop(): void {
    this.stopping.abort(new Error('daemon stopping'));
  }

  private identity(): { clusterName: string; nodeName: string } {
    return { clusterName: this.o.clusterName, nodeName: this.o.nodeName };
  }

  private sandboxLogger(state: SandboxState): Logger {
    return this.log.child({ sandbox: state.id, pod: state.podName, namespace: state.podNamespace });
  }
}

function observed(state: SandboxState): ObservedSandbox {
  return { sandboxId: state.id, podName: state.podName, podNamespace: state.podNamespace, instanceName: state.instanceName };
}

/** Sets each key of `patch` on `state`; a key whose value is undefined is removed. */
function applyPatch(state: SandboxState, patch: Partial<SandboxState>): void {
  const target = state as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete target[k];
    else target[k] = v;
  }
}

/** The caller's own end of a call: its deadline (DEADLINE_EXCEEDED), or it cancelled or went away. */
function callEnded(signal: AbortSignal, call: string, cause: unknown): ShimError {
  const r: unknown = signal.reason;
  if (r instanceof TtrpcError && r.code === Code.DEADLINE_EXCEEDED) return new ShimError('DEADLINE_EXCEEDED', `${call} deadline exceeded`, { cause });
  return new ShimError('CANCELLED', `${call} cancelled by the caller`, { cause });
}
