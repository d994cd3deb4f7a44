/**
 * The ports of the shim: everything it needs from outside, in one place (docs/adr/0002-ports.md).
 * The shim calls these interfaces and never the modules behind them; the adapters (src/tunnel,
 * src/observability, src/k8s) implement them and the composition root (src/cli/compose-daemon.ts)
 * plugs them in. This file imports types of lower layers only (providers, podvm), no implementation.
 */
import type { ApfConfig, PodNetworkConfig } from '../podvm/apf-config.js';
import type { ProviderErrorCode } from '../providers/errors.js';
import type { Instance } from '../providers/provider.js';
import type { SandboxState } from './sandbox-store.js';

// ---- Agent tunnel (src/tunnel/proxy-tunnel.ts) ------------------------------------------------

export interface AgentTunnelTarget {
  sandboxId: string;
  /** Where the shim will dial: `PODS_DIR/<id>/agent.ttrpc`. */
  socketPath: string;
  instance: Instance;
  instanceName: string;
}

/** The per-sandbox path from the shim's agent socket to the forwarder in the VM. */
export interface AgentTunnel {
  /**
   * Serves `socketPath` and connects to the forwarder at `instance.ips[0]`; resolves once the
   * forwarder answered. Rejects when `signal` aborts (the caller's deadline) or the tunnel gives up.
   */
  open(target: AgentTunnelTarget, signal: AbortSignal): Promise<void>;
  /** Closes the socket and the upstream connection. Idempotent; never throws. */
  close(sandboxId: string): Promise<void>;
  /** Closes every tunnel (daemon shutdown); VMs and forwarders keep running. */
  closeAll?(): Promise<void>;
}

// ---- Pod network (src/tunnel/pod-network.ts) --------------------------------------------------

/**
 * What the shim service needs from pod networking (reference §3.7): a plan at CreateVM, the
 * worker side of the tunnel at StartVM, its removal at StopVM.
 */
export interface PodNetwork {
  /**
   * CreateVM: inspects the pod's network namespace and the worker's underlay, and returns the
   * `pod-network` the VM receives in apf.json. Throws a typed error naming the problem; an error whose
   * `code` is POD_NETNS_IS_HOST when `netnsPath` is the daemon's own network namespace.
   */
  prepare(netnsPath: string, vni: number, index: number, signal: AbortSignal): Promise<PodNetworkConfig>;
  /** StartVM: the worker side of the tunnel to the VM at `vmIp`. Undoes itself on failure. */
  connect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void>;
  /**
   * StopVM / cleanup: idempotent; also when the pod namespace is already gone. Never throws for "already
   * gone". `signal`: the caller's bound (the daemon's stop, a timeout).
   */
  disconnect(netnsPath: string, cfg: PodNetworkConfig, vmIp: string, signal: AbortSignal): Promise<void>;
}

/** The `code` of the error `PodNetwork.prepare` throws for the daemon's own (host) network namespace. */
export const POD_NETNS_IS_HOST = 'POD_NETNS_IS_HOST';

/** True for the error `PodNetwork.prepare` throws when the pod's path names the host's namespace. */
export function isHostNetnsRefusal(err: unknown): err is Error & { code: typeof POD_NETNS_IS_HOST } {
  return err instanceof Error && (err as { code?: unknown }).code === POD_NETNS_IS_HOST;
}

// ---- User-data (src/shim/user-data-composer.ts; certificates from src/tunnel/tls) --------------

/** Builds the cloud-config a sandbox's VM boots with; rejects once `signal` (the StartVM's) aborts. */
export type UserDataBuilder = (state: SandboxState, signal: AbortSignal) => Promise<string>;

/** The TLS part of a sandbox's apf.json; absent keys are left out. */
export type ApfTlsFields = Pick<ApfConfig, 'tls-server-cert' | 'tls-server-key' | 'tls-client-ca' | 'tls-min-version' | 'tls-cipher-suites'>;

/** Issues the forwarder's side of the daemon ↔ forwarder TLS for one VM. */
export interface CertIssuer {
  /**
   * The server certificate and key for the VM named `instanceName`, the CA the forwarder verifies the
   * daemon against, and the TLS profile; `{}` without TLS (--disable-tls).
   */
  apfTlsFields(instanceName: string): Promise<ApfTlsFields>;
}

// ---- Sandbox observers (metrics, PeerPod objects, Pod events, capacity) -----------------------

export interface ObservedSandbox {
  sandboxId: string;
  podName: string;
  podNamespace: string;
  instanceName: string;
}

export type StartPhase = 'create_instance' | 'pod_network' | 'agent_tunnel' | 'total';

/**
 * What happens to sandboxes, for whoever wants to know. The manager calls these synchronously and
 * ignores what they do; an observer that needs I/O starts it itself and handles its own failures —
 * an observer can never fail or slow down a pod.
 */
export interface SandboxObserver {
  /** createInstance returned. */
  instanceCreated?(s: ObservedSandbox, instance: Instance, durationMs: number): void;
  /** createInstance failed with this kind of error. */
  instanceCreateFailed?(s: ObservedSandbox, code: ProviderErrorCode, message: string, durationMs: number): void;
  /** One StartVM phase finished. */
  startPhase?(s: ObservedSandbox, phase: StartPhase, durationMs: number): void;
  /** StartVM failed: what the shim (and so the pod) is told. */
  startFailed?(s: ObservedSandbox, message: string): void;
  /** Every instance of the sandbox is gone (after StopVM, a failed start, or recovery). */
  instancesDeleted?(s: ObservedSandbox, instanceId: string | undefined): void;
}

// ---- Metrics (src/observability/metrics.ts) ---------------------------------------------------

export type ProviderOperation = 'create' | 'delete' | 'list';

/** What the daemon reports to its metrics. */
export interface MetricsSink {
  /** One provider (cloud API) operation ended: `ok` or the kind of error. */
  providerCall(operation: ProviderOperation, outcome: ProviderErrorCode | 'ok'): void;
  /** The reaper deleted one leaked instance. */
  instanceReaped(): void;
  /** Where the sandboxes-by-phase gauge reads its figures (at scrape time, so it cannot drift). */
  trackSandboxes(count: () => Record<string, number>): void;
  /** The observer that records instance creations, StartVM phases and failures. */
  observer(): SandboxObserver;
}

// ---- Probes (src/observability/probe-server.ts) -----------------------------------------------

/** The HTTP probe endpoints: opened first when the daemon starts, closed last when it stops. */
export interface ProbeEndpoint {
  /** Binds PROBE_PORT; resolves once bound (or once a retry is scheduled for a busy port). */
  listen(port: number): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
