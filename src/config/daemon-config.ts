/**
 * The daemon's common options (reference §5.6). Names and defaults are upstream's so existing
 * ConfigMaps keep working; provider keys live with each provider.
 */
import { messageOf } from '../util/errors.js';
import { hostname } from 'node:os';
import {
  absolutePath,
  bool,
  cidrList,
  duration,
  int,
  interfaceName,
  list,
  name,
  oneOf,
  option,
  resolveOptions,
  str,
  type RawSources,
  type Resolved,
} from './options.js';
import { ConfigError } from './errors.js';
import { checkUnixSocketPath } from '../ttrpc/unix-socket.js';

export const daemonOptions = {
  socket: option({
    flag: 'socket',
    env: ['REMOTE_HYPERVISOR_ENDPOINT'],
    default: '/run/peerpod/hypervisor.sock',
    schema: absolutePath(),
    description: 'Unix socket the Kata shim calls (hypervisor.Hypervisor, podvminfo.PodVMInfo)',
  }),
  podsDir: option({
    flag: 'pods-dir',
    env: ['PODS_DIR', 'PEER_PODS_DIR'],
    default: '/run/peerpod/pods',
    schema: absolutePath(),
    description: 'per-sandbox folders: agent.ttrpc socket, state.json',
  }),
  stateDir: option({
    flag: 'state-dir',
    env: ['CAA_STATE_DIR'],
    default: '/run/peerpod/state',
    schema: absolutePath(),
    description: "daemon-wide state that must survive a restart (providers' records)",
  }),
  pauseImage: option({ flag: 'pause-image', env: ['PAUSE_IMAGE'], default: '', schema: str(), description: 'unused (kept for upstream compatibility)' }),
  forwarderPort: option({ flag: 'forwarder-port', env: ['FORWARDER_PORT'], default: '15150', schema: int(1, 65535), description: 'agent-protocol-forwarder port in the VM' }),
  caCertFile: option({ flag: 'ca-cert-file', env: ['CACERT_FILE'], default: '', schema: str(), description: 'manual TLS: CA certificate' }),
  certFile: option({ flag: 'cert-file', env: ['CERT_FILE'], default: '', schema: str(), description: 'manual TLS: client certificate' }),
  certKey: option({ flag: 'cert-key', env: ['CERT_KEY'], default: '', schema: str(), secret: true, description: 'manual TLS: client key file' }),
  tlsSkipVerify: option({ flag: 'tls-skip-verify', env: ['TLS_SKIP_VERIFY'], default: 'false', schema: bool(), boolean: true, description: 'testing only: do not verify the forwarder certificate' }),
  tlsMinVersion: option({ flag: 'tls-min-version', env: ['TLS_MIN_VERSION'], default: '', schema: oneOf(['', 'VersionTLS12', 'VersionTLS13']), description: 'TLS floor between daemon and forwarder' }),
  tlsCipherSuites: option({ flag: 'tls-cipher-suites', env: ['TLS_CIPHER_SUITES'], default: '', schema: list(), description: 'IANA cipher suite names (TLS 1.2 only)' }),
  disableTls: option({ flag: 'disable-tls', env: ['DISABLE_TLS'], default: 'false', schema: bool(), boolean: true, description: 'testing only: plain TCP to the forwarder' }),
  proxyTimeoutMs: option({ flag: 'proxy-timeout', env: ['PROXY_TIMEOUT'], default: '5m', schema: duration({ min: 1_000, max: 86_400_000 }), description: 'longest wait for the forwarder to answer (Go duration)' }),
  tunnelType: option({ flag: 'tunnel-type', env: ['TUNNEL_TYPE'], default: 'vxlan', schema: oneOf(['vxlan']), description: 'pod network tunnel' }),
  vxlanPort: option({ flag: 'vxlan-port', env: ['VXLAN_PORT'], default: '4789', schema: int(1, 65535), description: 'VXLAN UDP port' }),
  vxlanMinId: option({ flag: 'vxlan-min-id', env: ['VXLAN_MIN_ID'], default: '555000', schema: int(1, 16_777_215), description: 'first VNI' }),
  hostInterface: option({ flag: 'host-interface', env: ['HOST_INTERFACE'], default: '', schema: interfaceName(), description: 'dedicated tunnel interface on the worker' }),
  initdata: option({ flag: 'initdata', env: ['INITDATA'], default: '', schema: str(), description: 'default initdata (gzip+base64) for pods without one' }),
  cloudConfigVerify: option({ flag: 'cloud-config-verify', env: ['CLOUD_CONFIG_VERIFY'], default: 'false', schema: bool(), boolean: true, description: 'check the provider configuration at start' }),
  peerpodsLimitPerNode: option({ flag: 'peerpods-limit-per-node', env: ['PEERPODS_LIMIT_PER_NODE'], default: '10', schema: int(-1, 100_000), description: 'kata.peerpods.io/vm capacity (<0 disables)' }),
  enableScratchSpace: option({ flag: 'enable-scratch-space', env: ['ENABLE_SCRATCH_SPACE'], default: 'false', schema: bool(), boolean: true, description: 'encrypted scratch disk in the VM' }),
  externalNetworkViaPodvm: option({ flag: 'ext-network-via-podvm', env: ['EXTERNAL_NETWORK_VIA_PODVM'], default: 'false', schema: bool(), boolean: true, description: 'experimental: external traffic through the VM' }),
  podSubnetCidrs: option({ flag: 'pod-subnet-cidrs', env: ['POD_SUBNET_CIDRS'], default: '', schema: cidrList(), description: 'experimental, with --ext-network-via-podvm' }),
  nodeName: option({ flag: 'node-name', env: ['NODE_NAME'], default: hostname(), schema: name(), description: 'this worker node (tags, Kubernetes objects)' }),
  clusterName: option({ flag: 'cluster-name', env: ['CLUSTER_NAME'], default: 'default', schema: name(), description: 'cluster name put in instance tags' }),
  logLevel: option({ flag: 'log-level', env: ['LOG_LEVEL'], default: 'info', schema: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), description: 'log level' }),
  shutdownGraceMs: option({ flag: 'shutdown-grace', env: ['SHUTDOWN_GRACE'], default: '10s', schema: duration({ min: 0, max: 3_600_000 }), description: 'how long SIGTERM waits for calls in flight' }),
  maxCallsPerConnection: option({ flag: 'max-calls-per-connection', env: ['MAX_CALLS_PER_CONNECTION'], default: '1024', schema: int(64, 1_000_000), description: 'calls running at once on one connection to the hypervisor socket or an agent socket (the hypervisor socket: 4 times this on all connections together; at least 64, since the shim keeps long calls such as WaitProcess and ReadStdout open on its agent connection); further requests are held and run in order as calls finish; a client pipelining over 1 MiB of requests beyond the cap is disconnected (docs/operations.md)' }),
  probePort: option({ flag: 'probe-port', env: ['PROBE_PORT'], default: '8000', schema: int(0, 65535), description: 'port of /startup, /healthz, /readyz and /metrics (all interfaces; 0 = any free port)' }),
  runtimeClass: option({ flag: 'runtimeclass-name', env: ['RUNTIMECLASS_NAME'], default: 'kata-remote', schema: name(), description: 'RuntimeClass of peer pods (startup probe: those pods on this node must be Ready)' }),
  reaperPeriodMs: option({ flag: 'reaper-period', env: ['REAPER_PERIOD'], default: '5m', schema: duration({ min: 10_000, max: 86_400_000, zero: 'off' }), description: 'how often the leak reaper lists this node\'s instances (0 = off)' }),
  reaperGraceMs: option({ flag: 'reaper-grace', env: ['REAPER_GRACE'], default: '10m', schema: duration({ min: 0, max: 604_800_000 }), description: 'how long an instance must be without an owner before the reaper deletes it' }),
  capacityMode: option({ flag: 'capacity-mode', env: ['CAPACITY_MODE'], default: 'device-plugin', schema: oneOf(['device-plugin', 'node-status', 'off']), description: 'how kata.peerpods.io/vm capacity is advertised: kubelet device plugin, patching the node status (upstream\'s way), or not at all' }),
  devicePluginDir: option({ flag: 'device-plugin-dir', env: ['DEVICE_PLUGIN_DIR'], default: '/var/lib/kubelet/device-plugins', schema: absolutePath(), description: 'the kubelet\'s device-plugin directory (kubelet.sock)' }),
  ownerWaitMs: option({ flag: 'owner-wait', env: ['OWNER_WAIT'], default: '60s', schema: duration({ min: 0, max: 3_600_000 }), description: 'how long a starting daemon waits for the daemon that owns PODS_DIR to hand it over (rolling update) before exiting with code 3' }),
  startFailureCleanupTimeoutMs: option({ flag: 'start-failure-cleanup-timeout', env: ['START_FAILURE_CLEANUP_TIMEOUT'], default: '10m', schema: duration({ min: 1_000, max: 86_400_000 }), description: 'how long a failed StartVM keeps retrying to delete its instance before leaving it to the next start-up' }),
};

export type DaemonConfig = Resolved<typeof daemonOptions>;

/** Parses and cross-checks the common options. */
export function loadDaemonConfig(sources: RawSources): DaemonConfig {
  const c = resolveOptions(daemonOptions, sources);
  const problems: string[] = [];
  try {
    checkUnixSocketPath(c.socket);
    // Kata sandbox ids are 64 hex characters; CreateVM checks longer ones one by one.
    checkUnixSocketPath(`${c.podsDir}/${'x'.repeat(64)}/agent.ttrpc`);
  } catch (err) {
    problems.push(`PODS_DIR / REMOTE_HYPERVISOR_ENDPOINT: ${messageOf(err)}`);
  }
  if (c.tlsCipherSuites.length > 0 && c.tlsMinVersion === 'VersionTLS13') {
    problems.push('TLS_CIPHER_SUITES: cipher suites can only be chosen with TLS 1.2 (TLS_MIN_VERSION=VersionTLS13 given)');
  }
  if (c.caCertFile && c.tlsSkipVerify) {
    problems.push('CACERT_FILE and TLS_SKIP_VERIFY cannot be used together');
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return c;
}
