/**
 * The `local` provider's keys. An instance is a forwarder process on this machine, listening on its
 * own loopback address; LOCAL_AGENT_COMMAND optionally starts a Kata agent (or a stand-in) beside it.
 */
import { oneOf, option, redact, resolveOptions, str, type RawSources, type Resolved } from '../../config/options.js';

export const localOptions = {
  agentCommand: option({
    flag: 'local-agent-command',
    env: ['LOCAL_AGENT_COMMAND'],
    default: '',
    schema: str(),
    description: 'command started per instance to serve the agent socket; {socket} is replaced by its path (space-separated, no shell)',
  }),
  addressPrefix: option({
    flag: 'local-address-prefix',
    env: ['LOCAL_ADDRESS_PREFIX'],
    default: '127.77',
    schema: str().refine((v) => /^127\.\d{1,3}$/.test(v) && Number(v.split('.')[1]) <= 255, 'expected 127.N (N ≤ 255): instances get 127.N.x.y'),
    description: 'loopback /16 the instances take their addresses from (loopback mode)',
  }),
  network: option({
    flag: 'local-network',
    env: ['LOCAL_NETWORK'],
    default: 'auto',
    schema: oneOf(['auto', 'netns', 'loopback']),
    description: 'netns: a network namespace + veth per instance (root); loopback: a 127.N.x.y address; auto: netns when root',
  }),
  netnsCidr: option({
    flag: 'local-netns-cidr',
    env: ['LOCAL_NETNS_CIDR'],
    default: '10.239.0.0/16',
    schema: str().refine((v) => /^(\d{1,3})\.(\d{1,3})\.0\.0\/16$/.test(v) && v.split('/')[0]!.split('.').every((o) => Number(o) <= 255), 'expected an A.B.0.0/16 range'),
    description: 'range the veth /30s come from (netns mode); must not be used on this machine',
  }),
};

export type LocalConfig = Resolved<typeof localOptions>;

export function loadLocalConfig(sources: RawSources): LocalConfig {
  return resolveOptions(localOptions, sources);
}

export function describeLocalConfig(sources: RawSources): Record<string, unknown> {
  return { ...redact(localOptions, loadLocalConfig(sources)), note: 'forwarder processes on this machine: no VM, no TEE (development only)' };
}
