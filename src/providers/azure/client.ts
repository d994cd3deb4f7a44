/**
 * The narrow slice of Azure Resource Manager the provider uses, behind an interface so tests can
 * swap it. Every HTTP request (long-running-operation polls included) passes the shared rate limiter
 * and throttle window (pipeline.ts); every failure comes back as a ProviderError with a stable code.
 */
import { ComputeManagementClient, type VirtualMachine, type VirtualMachineSize } from '@azure/arm-compute';
import { NetworkManagementClient, type NetworkInterface, type NetworkSecurityGroup, type PublicIPAddress, type Subnet } from '@azure/arm-network';
import type { TokenCredential } from '@azure/identity';
import { VERSION } from '../../version.js';
import type { RateLimiter } from '../rate-limiter.js';
import { classifyAzureError } from './errors.js';
import type { ImageRef, SubnetRef } from './ids.js';
import { pacingPolicies, ThrottleWindow } from './pipeline.js';

export interface ImageInfo {
  /** One line for logs and `--verify`. */
  summary: string;
}

export interface ArmApi {
  /**
   * PUT a VM and poll its long-running operation until it ends (or `signal` aborts). `onAccepted`
   * runs once Resource Manager has accepted the PUT, i.e. once the VM exists.
   */
  createVm(resourceGroup: string, name: string, vm: VirtualMachine, signal: AbortSignal, onAccepted?: () => void): Promise<VirtualMachine>;
  /** DELETE a VM and poll until it is gone. Resource Manager answers 204 for a VM that does not exist. */
  deleteVm(resourceGroup: string, name: string, signal: AbortSignal): Promise<void>;
  getVm(resourceGroup: string, name: string, signal: AbortSignal): Promise<VirtualMachine>;
  /** Every page, concatenated. */
  listVms(resourceGroup: string, signal: AbortSignal): Promise<VirtualMachine[]>;
  listVmSizes(location: string, signal: AbortSignal): Promise<VirtualMachineSize[]>;
  getNic(resourceGroup: string, name: string, signal: AbortSignal): Promise<NetworkInterface>;
  getPublicIp(resourceGroup: string, name: string, signal: AbortSignal): Promise<PublicIPAddress>;
  getSubnet(ref: SubnetRef, signal: AbortSignal): Promise<Subnet>;
  getNsg(resourceGroup: string, name: string, signal: AbortSignal): Promise<NetworkSecurityGroup>;
  /** The image exists and this identity may read it. */
  getImage(ref: ImageRef, location: string, signal: AbortSignal): Promise<ImageInfo>;
  /** A token for Resource Manager: proves the credentials without touching a resource. */
  getToken(signal: AbortSignal): Promise<{ expiresOnTimestamp: number }>;
  /** How many Retry-After windows were opened so far. */
  readonly throttleWindows: number;
  close(): void;
}

export interface ArmClientOptions {
  subscriptionId: string;
  credential: TokenCredential;
  /** `https://host[:port]` of Resource Manager. */
  endpoint: string;
  /** Token scope, `<endpoint>/.default`. */
  scope: string;
  limiter: RateLimiter;
  maxRetries: number;
  pollIntervalMs: number;
}

export class SdkArmApi implements ArmApi {
  private readonly computeBySubscription = new Map<string, ComputeManagementClient>();
  private readonly network: NetworkManagementClient;
  private readonly window = new ThrottleWindow();
  private readonly policies;

  constructor(private readonly options: ArmClientOptions) {
    this.policies = pacingPolicies(options.limiter, this.window);
    this.network = new NetworkManagementClient(options.credential, options.subscriptionId, {
      endpoint: options.endpoint,
      $host: options.endpoint,
      credentialScopes: [options.scope],
      retryOptions: { maxRetries: options.maxRetries },
      additionalPolicies: this.policies,
      userAgentOptions: { userAgentPrefix: `cloud-api-adaptor-ts/${VERSION}` },
    });
  }

  get throttleWindows(): number {
    return this.window.windowsOpened;
  }

  /** A compute client for a subscription (images may live in another one than the VMs). */
  private compute(subscriptionId = this.options.subscriptionId): ComputeManagementClient {
    let client = this.computeBySubscription.get(subscriptionId);
    if (!client) {
      client = new ComputeManagementClient(this.options.credential, subscriptionId, {
        endpoint: this.options.endpoint,
        credentials: { scopes: [this.options.scope] },
        retryOptions: { maxRetries: this.options.maxRetries },
        additionalPolicies: this.policies,
        userAgentOptions: { userAgentPrefix: `cloud-api-adaptor-ts/${VERSION}` },
      });
      this.computeBySubscription.set(subscriptionId, client);
    }
    return client;
  }

  /** One logical call, its failure classified. (Pacing happens per HTTP request in the pipeline.) */
  private async call<T>(action: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw classifyAzureError(err, action, signal);
    }
  }

  createVm(resourceGroup: string, name: string, vm: VirtualMachine, signal: AbortSignal, onAccepted?: () => void): Promise<VirtualMachine> {
    return this.call('virtualMachines.createOrUpdate', signal, async () => {
      const poller = this.compute().virtualMachines.createOrUpdate(resourceGroup, name, vm, {
        abortSignal: signal,
        updateIntervalInMs: this.options.pollIntervalMs,
      });
      const done = poller.pollUntilDone({ abortSignal: signal });
      poller.submitted().then(
        () => onAccepted?.(),
        () => undefined, // the same failure rejects `done`
      );
      return await done;
    });
  }

  deleteVm(resourceGroup: string, name: string, signal: AbortSignal): Promise<void> {
    return this.call('virtualMachines.delete', signal, async () => {
      const poller = this.compute().virtualMachines.delete(resourceGroup, name, { abortSignal: signal, updateIntervalInMs: this.options.pollIntervalMs });
      await poller.pollUntilDone({ abortSignal: signal });
    });
  }

  getVm(resourceGroup: string, name: string, signal: AbortSignal): Promise<VirtualMachine> {
    return this.call('virtualMachines.get', signal, () => this.compute().virtualMachines.get(resourceGroup, name, { abortSignal: signal }));
  }

  listVms(resourceGroup: string, signal: AbortSignal): Promise<VirtualMachine[]> {
    return this.call('virtualMachines.list', signal, () => collect(this.compute().virtualMachines.list(resourceGroup, { abortSignal: signal })));
  }

  listVmSizes(location: string, signal: AbortSignal): Promise<VirtualMachineSize[]> {
    return this.call('virtualMachineSizes.list', signal, () => collect(this.compute().virtualMachineSizes.list(location, { abortSignal: signal })));
  }

  getNic(resourceGroup: string, name: string, signal: AbortSignal): Promise<NetworkInterface> {
    return this.call('networkInterfaces.get', signal, () => this.network.networkInterfaces.get(resourceGroup, name, { abortSignal: signal }));
  }

  getPublicIp(resourceGroup: string, name: string, signal: AbortSignal): Promise<PublicIPAddress> {
    return this.call('publicIPAddresses.get', signal, () => this.network.publicIPAddresses.get(resourceGroup, name, { abortSignal: signal }));
  }

  getSubnet(ref: SubnetRef, signal: AbortSignal): Promise<Subnet> {
    return this.call('subnets.get', signal, () => this.network.subnets.get(ref.resourceGroup, ref.virtualNetwork, ref.subnet, { abortSignal: signal }));
  }

  getNsg(resourceGroup: string, name: string, signal: AbortSignal): Promise<NetworkSecurityGroup> {
    return this.call('networkSecurityGroups.get', signal, () => this.network.networkSecurityGroups.get(resourceGroup, name, { abortSignal: signal }));
  }

  getImage(ref: ImageRef, location: string, signal: AbortSignal): Promise<ImageInfo> {
    const o = { abortSignal: signal };
    switch (ref.kind) {
      case 'managed':
        return this.call('images.get', signal, async () => {
          const image = await this.compute(ref.subscriptionId).images.get(ref.resourceGroup, ref.name, o);
          return { summary: `managed image ${image.name ?? ref.name} in ${image.location ?? '?'}, ${image.hyperVGeneration ?? '?'}` };
        });
      case 'gallery':
        if (ref.version) {
          const version = ref.version;
          return this.call('galleryImageVersions.get', signal, async () => {
            const v = await this.compute(ref.subscriptionId).galleryImageVersions.get(ref.resourceGroup, ref.gallery, ref.image, version, o);
            return { summary: `gallery image ${ref.gallery}/${ref.image} version ${v.name ?? version} (${v.provisioningState ?? '?'})` };
          });
        }
        return this.call('galleryImages.get', signal, async () => {
          const i = await this.compute(ref.subscriptionId).galleryImages.get(ref.resourceGroup, ref.gallery, ref.image, o);
          return { summary: `gallery image ${ref.gallery}/${i.name ?? ref.image}, latest version, ${i.hyperVGeneration ?? '?'}` };
        });
      case 'community':
        if (ref.version) {
          const version = ref.version;
          return this.call('communityGalleryImageVersions.get', signal, async () => {
            const v = await this.compute().communityGalleryImageVersions.get(location, ref.publicGalleryName, ref.image, version, o);
            return { summary: `community gallery image ${ref.publicGalleryName}/${ref.image} version ${v.name ?? version}` };
          });
        }
        return this.call('communityGalleryImages.get', signal, async () => {
          const i = await this.compute().communityGalleryImages.get(location, ref.publicGalleryName, ref.image, o);
          return { summary: `community gallery image ${ref.publicGalleryName}/${i.name ?? ref.image}, latest version` };
        });
    }
  }

  getToken(signal: AbortSignal): Promise<{ expiresOnTimestamp: number }> {
    return this.call('token', signal, async () => {
      const token = await this.options.credential.getToken(this.options.scope, { abortSignal: signal });
      if (!token) throw Object.assign(new Error('the credential returned no token'), { name: 'CredentialUnavailableError' });
      return { expiresOnTimestamp: token.expiresOnTimestamp };
    });
  }

  close(): void {
    this.options.limiter.close();
  }
}

async function collect<T>(pages: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of pages) out.push(item);
  return out;
}
