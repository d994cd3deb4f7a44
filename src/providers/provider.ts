/**
 * The contract between the shim and a cloud (DESIGN.md "Provider"). One object per daemon; every
 * method may be called concurrently for different sandboxes.
 */
import type { Logger } from 'pino';

/** What the pod asked for (reference §4.1 `InstanceTypeSpec`). Zero means "not given". */
export interface InstanceSpec {
  /** From the `machine_type` annotation; empty = let the provider choose. */
  instanceType: string;
  vcpus: number;
  memoryMiB: number;
  gpus: number;
  gpuModel: string;
  /** Image / AMI / volume override from the `image` annotation; empty = the configured one. */
  image: string;
  /** Route the pod's external traffic through a second interface (EXTERNAL_NETWORK_VIA_PODVM). */
  multiNic: boolean;
}

export interface CreateInstanceRequest {
  sandboxId: string;
  podName: string;
  podNamespace: string;
  /** `podvm-<pod>-<sid8>`, computed once by `naming.ts`. */
  instanceName: string;
  /** The cloud-config the VM reads at boot. */
  userData: string;
  spec: InstanceSpec;
  /** Set on the instance (and everything created with it) at creation, never afterwards. */
  tags: Readonly<Record<string, string>>;
  /**
   * The sandbox's child logger (`sandbox`, `pod`, `namespace` bound): the provider's lines about
   * this create carry its keys (request-log.ts). Without it they carry `sandbox` only.
   */
  logger?: Logger;
}

export interface Instance {
  id: string;
  name: string;
  /** IPs[0] is where the agent proxy dials the forwarder. */
  ips: string[];
  /** The instance type actually used (after selection or fallback). */
  instanceType?: string;
}

export interface InstanceSummary {
  id: string;
  name: string;
  tags: Record<string, string>;
}

export interface Provider {
  readonly name: string;

  /**
   * Creates and boots one instance. On failure throws a ProviderError; if an instance was created
   * before the failure its id is in `partialInstanceId`, and deleting it is the caller's job.
   */
  createInstance(request: CreateInstanceRequest, signal: AbortSignal): Promise<Instance>;

  /**
   * Deletes an instance and what was created with it. Idempotent: an instance that is already gone
   * is success. May be called more than once, also concurrently, for the same id. `logger`, when
   * given, is the sandbox's child logger, whose keys the provider's lines about this delete carry.
   */
  deleteInstance(instanceId: string, signal: AbortSignal, logger?: Logger): Promise<void>;

  /** Instances carrying every tag in `tags` (how leaked or half-created instances are found). */
  listInstances(tags: Readonly<Record<string, string>>, signal: AbortSignal): Promise<InstanceSummary[]>;

  /**
   * Resolves with a description (state, the VM's last console lines when readable) once the
   * instance has stopped running; resolves `undefined` when `signal` ends first. Never rejects. The
   * daemon watches a new instance this way while it waits for the forwarder, so a pod VM image that
   * powers off or crashes fails StartVM at once, not at PROXY_TIMEOUT. Optional.
   */
  watchForExit?(instance: Instance, signal: AbortSignal): Promise<string | undefined>;

  /** Releases the provider's own resources (clients, timers). Instances are left running. */
  teardown(): Promise<void>;
}

/**
 * What the daemon hands a provider (as grpc-js's ChannelControlHelper): logging, where to keep
 * state, and the identity that goes into tags. Tests hand in their own.
 */
export interface ProviderHost {
  logger: Logger;
  /** A folder the provider may own for its state; it survives a daemon restart. */
  stateDir: string;
  clusterName: string;
  nodeName: string;
  /** The port the forwarder in each VM listens on (FORWARDER_PORT); firewall rules must admit it. */
  forwarderPort: number;
}
