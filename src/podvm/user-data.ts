/**
 * What a sandbox's VM receives. For now: apf.json with the pod's identity and the pod's initdata as
 * given. The agent-tunnel issue adds TLS material, the pod network, auth.json and initdata encoding.
 */
import { cloudConfig, type WriteFile } from './cloud-config.js';

export const APF_CONFIG_PATH = '/run/peerpod/apf.json';

export interface UserDataInput {
  podName: string;
  podNamespace: string;
}

export function buildUserData(input: UserDataInput): string {
  const apf = { 'pod-namespace': input.podNamespace, 'pod-name': input.podName };
  const files: WriteFile[] = [{ path: APF_CONFIG_PATH, content: `${JSON.stringify(apf, null, 4)}\n` }];
  return cloudConfig(files);
}
