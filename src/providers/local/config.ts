/**
 * The `local` provider's keys. An instance is a forwarder process on this machine, listening on its
 * own loopback address; LOCAL_AGENT_COMMAND optionally starts a Kata agent (or a stand-in) beside it.
 */
import { option, resolveOptions, str, type Resolved } from '../../config/options.js';

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
    description: 'loopback /16 the instances take their addresses from',
  }),
};

export type LocalConfig = Resolved<typeof localOptions>;

export function loadLocalConfig(env: NodeJS.ProcessEnv): LocalConfig {
  return resolveOptions(localOptions, { flags: {}, env });
}

export function describeLocalConfig(env: NodeJS.ProcessEnv): Record<string, unknown> {
  return { ...loadLocalConfig(env), mode: 'forwarder processes on loopback addresses (no VM, no TEE)' };
}
