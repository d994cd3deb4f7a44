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
import { NetnsError, NetnsErrorCode } from '../tunnel/netns/errors.js';
import { isOwnNetns } from '../tunnel/netns/identity.js';
import { Code, TtrpcError, codeName, type CodeName } from '../ttrpc/codes.js';
import type { AgentTunnel } from './agent-tunnel.js';
import { Annotation, instanceSpec, podIdentity, podInitdata, validateSandboxId } from './annotations.js';
import { parseInitdata } from '../podvm/initdata.js';
import { ShimError } from './errors.js';
import type { InstanceReclaimer } from './instance-reclaimer.js';
import { allocateIndex, type PodNetwork } from './pod-network.js';
import type { SandboxState, SandboxStore } from './sandbox-store.js';
import { combineObservers, type ObservedSandbox, type SandboxObserver } from './sandbox-observer.js';
import { timeoutSignal } from '../util/timers.js';

export interface SandboxManagerOptions {
  store: SandboxStore;
  provider: Provider;
  tunnel: AgentTunnel;
  reclaimer: InstanceReclaimer;
  logger: Logger;
  /** The cloud-config for the sandbox's VM (issues the VM's TLS server certificate). */
  buildUserData(state: SandboxState): Promise<string>;
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
  state: SandboxState;
  log: Logger;
  /** Aborts an in-flight StartVM (StopVM sets it off). */
  startAbort?: AbortController;
  stopRequested: boolean;
}

interface Waiter {
  podName: string;
  podNamespace: string;
  resolve(instanceId: string): void;
}

export class SandboxManager {
  private readonly sandboxes = new Map<string, Sandbox>();
  private readonly waiters = new Set<Waiter>();
  /** StartVM calls still running (whenSettled waits for them). */
  private readonly startsInFlight = new Set<Promise<void>>();
  /** Background deletions with their follow-up (state change, folder removal). */
  private readonly background = new Set<Promise<void>>();
  /** VNI indexes handed out to CreateVMs still inspecting their namespace. */
  private readonly reservedIndexes = new Set<number>();
  /** Ids whose saved state could not be read at `recover` (their folders are left for an operator). */
  private readonly unreadable = new Map<string, { file: string; reason: string }>();
  /** Aborted by `stop()`: tunnel re-opens of re-adopted sandboxes. */
  private readonly stopping = new AbortController();
  private readonly log: Logger;
  private readonly observe: Required<SandboxObserver>;

  constructor(private readonly o: SandboxManagerOptions) {
    this.log = o.logger.child({ component: 'sandbox' });
    this.observe = combineObservers(o.observers ?? [], (err) => this.log.error({ err: String(err) }, 'a sandbox observer threw'));
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

  async createVM(input: CreateVMInput): Promise<{ agentSocketPath: string }> {
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
      createdAt: now,
      updatedAt: now,
    };
    const sb: Sandbox = { state, log: this.sandboxLogger(state), stopRequested: false };
    // Claimed in memory before the first await, so two concurrent CreateVMs for one id cannot both win.
    this.sandboxes.set(id, sb);
    try {
      if (networkNamespacePath !== '' && this.o.podNetwork) state.network = await this.planNetwork(networkNamespacePath);
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
   * Picks the lowest VNI index no live sandbox (also re-adopted ones) uses and inspects the pod's
   * namespace. The index is reserved across the inspection's await, so concurrent CreateVMs differ.
   */
  private async planNetwork(netnsPath: string): Promise<NonNullable<SandboxState['network']>> {
    const used = [...this.sandboxes.values()].flatMap((s) => (s.state.network ? [s.state.network.index] : []));
    const index = allocateIndex([...used, ...this.reservedIndexes]);
    const vni = (this.o.vxlanMinId ?? 555000) + index;
    this.reservedIndexes.add(index);
    try {
      const config = await this.o.podNetwork!.prepare(netnsPath, vni, index, AbortSignal.timeout(30_000));
      return { index, vni, config };
    } catch (err) {
      if (err instanceof NetnsError && err.code === NetnsErrorCode.POD_NETNS_IS_HOST) throw new ShimError('INVALID_ARGUMENT', err.message, { cause: err });
      throw new ShimError('FAILED_PRECONDITION', `pod network of ${netnsPath}: ${messageOf(err)}`, { cause: err });
    } finally {
      this.reservedIndexes.delete(index);
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
    if (sb.stopRequested) throw new ShimError('FAILED_PRECONDITION', `sandbox ${id} is being stopped`);
    if (sb.state.phase !== 'created') {
      throw new ShimError('FAILED_PRECONDITION', `sandbox ${id} cannot start: it is ${sb.state.phase}`);
    }
    const { state, log } = sb;
    const startAbort = new AbortController();
    sb.startAbort = startAbort;
    const callSignal = AbortSignal.any([signal, startAbort.signal]);
    const started = performance.now();

    state.phase = 'creating';
    try {
      await this.o.store.save(state); // intent: a crash from here on may leave an instance to find by tags
    } catch (err) {
      // Nothing was asked of the cloud: back to `created` (what the disk still says), so a retry
      // once the disk is fixed can start it, and a StopVM that came meanwhile can remove it.
      state.phase = 'created';
      sb.startAbort = undefined;
      log.error({ err: messageOf(err) }, `StartVM failed for sandbox ${id}: its intent could not be recorded`);
      if (sb.stopRequested) await this.removeSandbox(sb).catch((e: unknown) => log.error({ err: messageOf(e) }, `sandbox ${id} could not be removed`));
      throw err;
    }

    const who = observed(state);
    try {
      let instance: Instance;
      const createStarted = performance.now();
      try {
        instance = await this.o.provider.createInstance(
          {
            sandboxId: id,
            podName: state.podName,
            podNamespace: state.podNamespace,
            instanceName: state.instanceName,
            userData: await this.o.buildUserData(state),
            spec: state.spec,
            tags: instanceTags({ ...this.identity(), sandboxId: id, podName: state.podName, podNamespace: state.podNamespace }),
            logger: log,
          },
          callSignal,
        );
      } catch (err) {
        const perr = asProviderError(err, callSignal);
        if (perr.partialInstanceId) state.instance = { id: perr.partialInstanceId, name: state.instanceName, ips: [] };
        this.observe.instanceCreateFailed(who, perr.code, perr.message, performance.now() - createStarted);
        throw perr;
      }
      state.instance = instance;
      this.observe.instanceCreated(who, instance, performance.now() - createStarted);
      this.observe.startPhase(who, 'create_instance', performance.now() - createStarted);
      if (instance.ips.length === 0) {
        throw new ShimError('INTERNAL', `instance ${instance.id} has no IP address`);
      }
      state.phase = 'running';
      await this.o.store.save(state);
      this.notifyWaiters(state, instance.id);
      log.info(
        { instanceId: instance.id, ips: instance.ips, instanceType: instance.instanceType, createMs: Math.round(performance.now() - started) },
        `created instance ${instance.id} (${state.instanceName}) for sandbox ${id}`,
      );
      callSignal.throwIfAborted();
      if (state.network && this.o.podNetwork) {
        const t = performance.now();
        await this.o.podNetwork.connect(state.netnsPath, state.network.config, instance.ips[0]!, callSignal);
        state.networkConnected = true;
        await this.o.store.save(state);
        this.observe.startPhase(who, 'pod_network', performance.now() - t);
      }
      const t = performance.now();
      await this.openTunnelWatchingInstance(id, state.instanceName, instance, callSignal);
      this.observe.startPhase(who, 'agent_tunnel', performance.now() - t);
      this.observe.startPhase(who, 'total', performance.now() - started);
      log.info({ totalMs: Math.round(performance.now() - started) }, `sandbox ${id} started`);
    } catch (err) {
      const reason = this.startFailure(err, callSignal, signal);
      log.error({ err: reason.message, code: reason.code, instanceId: state.instance?.id }, `StartVM failed for sandbox ${id}`);
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
    if (shimSignal.aborted) {
      const r: unknown = shimSignal.reason;
      if (r instanceof TtrpcError && r.code === Code.DEADLINE_EXCEEDED) return new ShimError('DEADLINE_EXCEEDED', 'StartVM deadline exceeded', { cause: err });
      return new ShimError('CANCELLED', 'StartVM cancelled by the caller', { cause: err });
    }
    if (callSignal.aborted) return new ShimError('CANCELLED', 'StartVM cancelled: StopVM was called', { cause: err });
    if (err instanceof ShimError) return err;
    if (isProviderError(err)) {
      const code = codeName(err.grpcCode) as Exclude<CodeName, 'OK'>;
      return new ShimError(code, `creating the pod VM failed (${err.code}): ${err.message}`, { cause: err });
    }
    return new ShimError('INTERNAL', `StartVM failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  /** After a failed start: close the tunnel and delete what may exist, detached from the caller. */
  private cleanupFailedStart(sb: Sandbox): void {
    const { state } = sb;
    void this.o.tunnel.close(state.id);
    state.phase = 'stopping';
    state.removeAfterDelete = sb.stopRequested;
    this.inBackground(this.reclaim(sb, this.o.startFailureCleanupTimeoutMs));
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
    sb.stopRequested = true;
    sb.startAbort?.abort(new ShimError('CANCELLED', 'StopVM was called'));
    await this.o.tunnel.close(id);
    log.info({ phase: state.phase, instanceId: state.instance?.id }, `stopping sandbox ${id}`);
    switch (state.phase) {
      case 'created':
        await this.removeSandbox(sb);
        return;
      case 'creating':
        // StartVM is unwinding after the abort above; its cleanup sees stopRequested.
        state.removeAfterDelete = true;
        await this.saveOrLog(sb, 'the stop request');
        return;
      case 'running':
      case 'stopping':
        state.phase = 'stopping';
        state.removeAfterDelete = true;
        // The deletion goes ahead even when the disk refuses the record: a full disk must not
        // keep a cloud instance alive. Only a crash before it ends would forget the request.
        await this.saveOrLog(sb, 'the stop request');
        this.inBackground(this.reclaim(sb));
        return;
    }
  }

  /** Saves the state; a failure (full or read-only disk) is logged, not thrown. */
  private async saveOrLog(sb: Sandbox, what: string): Promise<void> {
    try {
      await this.o.store.save(sb.state);
    } catch (err) {
      sb.log.error({ err: messageOf(err) }, `could not record ${what} of sandbox ${sb.state.id}; going on without it`);
    }
  }

  private inBackground(task: Promise<void>): void {
    const p = task.catch((err: unknown) => this.log.error({ err: String(err) }, 'background sandbox task failed'));
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** Resolves when no background deletion (and its follow-up) is running. */
  async whenIdle(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Deletes the sandbox's instances in the background and moves the state on when they are gone. */
  private async reclaim(sb: Sandbox, timeoutMs?: number): Promise<void> {
    const { state } = sb;
    state.phase = 'stopping';
    await this.saveOrLog(sb, 'the stopping state');
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
    await this.disconnectNetwork(sb);
    if (state.removeAfterDelete || sb.stopRequested) {
      await this.removeSandbox(sb);
    } else {
      state.phase = 'created';
      delete state.instance;
      delete state.removeAfterDelete;
      await this.o.store.save(state);
    }
  }

  /** Removes the worker side of the pod network (idempotent; errors logged, never thrown). */
  private async disconnectNetwork(sb: Sandbox): Promise<void> {
    const { state } = sb;
    if (!state.network || !this.o.podNetwork || !state.networkConnected || !state.instance) return;
    try {
      await this.o.podNetwork.disconnect(state.netnsPath, state.network.config, state.instance.ips[0] ?? '');
      state.networkConnected = false;
      await this.o.store.save(state);
      sb.log.info({ vni: state.network.vni }, `pod network of sandbox ${state.id} removed`);
    } catch (err) {
      sb.log.error({ err: messageOf(err) }, `removing the pod network of sandbox ${state.id} failed`);
    }
  }

  private async removeSandbox(sb: Sandbox): Promise<void> {
    const { id } = sb.state;
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
    signal.throwIfAborted();
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        podName,
        podNamespace,
        resolve: (instanceId) => {
          signal.removeEventListener('abort', onAbort);
          resolve(instanceId);
        },
      };
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        reject(signal.reason);
      };
      this.waiters.add(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private notifyWaiters(state: SandboxState, instanceId: string): void {
    for (const w of this.waiters) {
      if (w.podName === state.podName && w.podNamespace === state.podNamespace) {
        this.waiters.delete(w);
        w.resolve(instanceId);
      }
    }
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
    for (const state of loaded.states) {
      const sb: Sandbox = { state, log: this.sandboxLogger(state), stopRequested: false };
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
          state.removeAfterDelete = false;
          reclaiming++;
          this.inBackground(this.reclaim(sb));
          break;
        case 'stopping':
          sb.log.info(`finishing the deletion of sandbox ${state.id}`);
          sb.stopRequested = state.removeAfterDelete === true;
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
        sb.log.error({ err: messageOf(err) }, `could not re-open the agent tunnel of sandbox ${state.id}`);
      }
    }
  }

  /** Stops background work that must not outlive the daemon (tunnel re-opens). */
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
