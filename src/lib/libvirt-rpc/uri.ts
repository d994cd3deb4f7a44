/**
 * libvirt connection URIs (`driver[+transport]://[user@][host][:port]/path[?params]`) → how to reach
 * the daemon and which driver to open there, the way libvirt's own remote driver reads them.
 *
 *   qemu:///system                         local Unix socket (virtqemud's if present, else libvirtd's)
 *   qemu+unix:///system?socket=/p/sock     that socket
 *   qemu+ssh://root@host/system?keyfile=…  `ssh` to the host, then virt-ssh-helper (or nc) to its socket
 *   qemu+ext:///system?command=/bin/x      a program whose stdin/stdout carry the protocol
 *   qemu+tcp://host:16509/system           plain TCP (no TLS, no SASL: test set-ups only)
 */
import { singleCodeError } from '../../util/coded-error.js';

export class LibvirtUriError extends singleCodeError('LibvirtUriError', 'INVALID_CONFIG') {}

export type Transport =
  | { kind: 'unix'; socketPath: string | undefined }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'command'; argv: string[]; description: string };

export interface ParsedUri {
  /** What CONNECT_OPEN asks the daemon for, e.g. `qemu:///system`. */
  name: string;
  driver: string;
  transport: Transport;
}

const DEFAULT_SOCKET_DIR = '/var/run/libvirt';

/** Single-quotes a word for `sh -c`. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The remote side of an ssh connection (libvirt's `proxy=auto|native|netcat`): virt-ssh-helper when
 * installed (it finds the right daemon itself), else netcat to the daemon's socket.
 */
export function remoteProxyScript(name: string, options: { proxy: string; netcat: string; socket: string | undefined; driver: string }): string {
  const nc = (sock: string): string => `exec ${shellQuote(options.netcat)} -U ${sock}`;
  const socketChoice = options.socket
    ? nc(shellQuote(options.socket))
    : `if [ -S ${DEFAULT_SOCKET_DIR}/virt${options.driver}d-sock ]; then ${nc(`${DEFAULT_SOCKET_DIR}/virt${options.driver}d-sock`)}; else ${nc(`${DEFAULT_SOCKET_DIR}/libvirt-sock`)}; fi`;
  const native = `exec virt-ssh-helper ${shellQuote(name)}`;
  switch (options.proxy) {
    case 'native':
      return native;
    case 'netcat':
      return socketChoice;
    default:
      return `if command -v virt-ssh-helper >/dev/null 2>&1; then ${native}; else ${socketChoice}; fi`;
  }
}

export function parseLibvirtUri(uri: string): ParsedUri {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw new LibvirtUriError(`"${uri}" is not a libvirt URI (driver[+transport]://[user@host]/path)`);
  }
  const scheme = u.protocol.replace(/:$/, '');
  const [driver = '', transportName = ''] = scheme.split('+', 2);
  if (!/^[a-z][a-z0-9]*$/.test(driver)) throw new LibvirtUriError(`libvirt URI "${uri}": bad driver "${driver}"`);
  const params = u.searchParams;
  const path = decodeURIComponent(u.pathname || '/');
  const name = `${driver}://${path}`;
  const host = u.hostname;
  const transport = transportName || (host ? 'tls' : 'unix');

  switch (transport) {
    case 'unix': {
      if (host) throw new LibvirtUriError(`libvirt URI "${uri}": the unix transport takes no host`);
      return { name, driver, transport: { kind: 'unix', socketPath: params.get('socket') ?? undefined } };
    }
    case 'tcp': {
      if (!host) throw new LibvirtUriError(`libvirt URI "${uri}": the tcp transport needs a host`);
      return { name, driver, transport: { kind: 'tcp', host, port: u.port ? Number(u.port) : 16509 } };
    }
    case 'ext': {
      const command = params.get('command');
      if (!command) throw new LibvirtUriError(`libvirt URI "${uri}": the ext transport needs ?command=/path/to/program`);
      return { name, driver, transport: { kind: 'command', argv: [command], description: command } };
    }
    case 'ssh': {
      if (!host) throw new LibvirtUriError(`libvirt URI "${uri}": the ssh transport needs a host`);
      const argv = [params.get('command') ?? 'ssh'];
      if (u.port) argv.push('-p', u.port);
      if (u.username) argv.push('-l', decodeURIComponent(u.username));
      const keyfile = params.get('keyfile');
      if (keyfile) argv.push('-i', keyfile);
      const knownHosts = params.get('known_hosts');
      if (knownHosts) argv.push('-o', `UserKnownHostsFile=${knownHosts}`);
      // A daemon has no terminal: never prompt (a prompt would hang the connection).
      argv.push('-T', '-o', 'BatchMode=yes', '-e', 'none');
      if (params.get('no_verify') === '1') argv.push('-o', 'StrictHostKeyChecking=no');
      const proxy = params.get('proxy') ?? 'auto';
      if (!['auto', 'native', 'netcat'].includes(proxy)) throw new LibvirtUriError(`libvirt URI "${uri}": proxy must be auto, native or netcat`);
      const script = remoteProxyScript(name, { proxy, netcat: params.get('netcat') ?? 'nc', socket: params.get('socket') ?? undefined, driver });
      argv.push('--', host, 'sh', '-c', shellQuote(script));
      const who = u.username ? `${decodeURIComponent(u.username)}@${host}` : host;
      return { name, driver, transport: { kind: 'command', argv, description: `ssh ${who}` } };
    }
    case 'tls':
      throw new LibvirtUriError(`libvirt URI "${uri}": TLS transport is not supported; use qemu+ssh:// (or qemu+tcp:// on a trusted network)`);
    default:
      throw new LibvirtUriError(`libvirt URI "${uri}": unknown transport "${transportName}" (known: unix, ssh, ext, tcp)`);
  }
}

/** Where a local driver's daemon listens: the modular daemon's socket when it exists, else libvirtd's. */
export function localSocketCandidates(driver: string, socketDir = DEFAULT_SOCKET_DIR): string[] {
  return [`${socketDir}/virt${driver}d-sock`, `${socketDir}/libvirt-sock`];
}
