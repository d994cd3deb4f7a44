/**
 * Composes a sandbox's user-data: apf.json (pod identity, TLS material issued for this instance,
 * the TLS profile), initdata (the pod's, else the global INITDATA), the scratch marker.
 */
import { buildUserData } from '../podvm/user-data.js';
import { apfTlsFields, type TlsMaterial, type TlsProfile } from '../tunnel/tls/index.js';
import type { SandboxState } from './sandbox-store.js';

export interface UserDataComposerOptions {
  /** undefined with --disable-tls: the VM gets no TLS material. */
  material: TlsMaterial | undefined;
  profile: TlsProfile;
  /** INITDATA, already gzip+base64 and checked at start-up; '' when unset. */
  globalInitdata: string;
  scratchSpace: boolean;
}

export class UserDataComposer {
  constructor(private readonly o: UserDataComposerOptions) {}

  async compose(state: SandboxState): Promise<string> {
    const tls = await apfTlsFields(this.o.material, this.o.profile, state.instanceName);
    return buildUserData({
      apf: { 'pod-network': state.network?.config ?? null, 'pod-namespace': state.podNamespace, 'pod-name': state.podName, ...tls },
      initdata: state.initdata,
      globalInitdata: this.o.globalInitdata,
      scratchSpace: this.o.scratchSpace,
    });
  }
}
