/**
 * Composes a sandbox's user-data: apf.json (pod identity, TLS material issued for this instance,
 * the TLS profile), initdata (the pod's, else the global INITDATA), the scratch marker.
 */
import { buildUserData } from '../podvm/user-data.js';
import type { CertIssuer } from './ports.js';
import type { SandboxState } from './sandbox-store.js';

export interface UserDataComposerOptions {
  /** The VM's TLS material and profile (src/tunnel/tls); undefined: the VM gets none. */
  certs?: CertIssuer;
  /** INITDATA, already gzip+base64 and checked at start-up; '' when unset. */
  globalInitdata: string;
  scratchSpace: boolean;
  /**
   * auth.json for the pod's image-pull secrets (the Kubernetes integration), or undefined for none.
   * Must not throw: a pod whose secrets cannot be read still starts, pulling without credentials.
   * `signal`: the StartVM's; the reads end when it aborts (and `compose` then rejects).
   */
  registryAuth?(pod: { name: string; namespace: string }, signal: AbortSignal): Promise<string | undefined>;
}

export class UserDataComposer {
  constructor(private readonly o: UserDataComposerOptions) {}

  /** Rejects with the signal's reason once it aborts (a StopVM, the StartVM deadline). */
  async compose(state: SandboxState, signal: AbortSignal): Promise<string> {
    const [tls, authJson] = await Promise.all([
      this.o.certs?.apfTlsFields(state.instanceName) ?? {},
      this.o.registryAuth?.({ name: state.podName, namespace: state.podNamespace }, signal),
    ]);
    // registryAuth answers "no credentials" when its reads were cut short: that must not become a VM.
    signal.throwIfAborted();
    return buildUserData({
      authJson,
      apf: { 'pod-network': state.network?.config ?? null, 'pod-namespace': state.podNamespace, 'pod-name': state.podName, ...tls, 'sandbox-id': state.id },
      initdata: state.initdata,
      globalInitdata: this.o.globalInitdata,
      scratchSpace: this.o.scratchSpace,
    });
  }
}
