/**
 * The daemon's own folders (the socket's, PODS_DIR, the state dir) are created and checked before
 * anything else starts, so that a daemon run without the rights for them (the defaults are under
 * /run/peerpod: root) stops at once with a message that says what to do, not a bare EACCES.
 */
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DaemonConfig } from '../config/daemon-config.js';
import { ConfigError } from '../config/errors.js';

/** errno codes that mean "not allowed to write there" rather than "something is broken". */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS']);

const PATH_OPTIONS = '--socket / REMOTE_HYPERVISOR_ENDPOINT, --pods-dir / PODS_DIR and --state-dir / CAA_STATE_DIR';

/** A folder of the daemon cannot be created or written. Exits 2, like any bad configuration. */
class PathAccessError extends ConfigError {
  constructor(
    readonly path: string,
    readonly errno: string,
    message: string,
  ) {
    super(message);
  }
}

type PathConfig = Pick<DaemonConfig, 'socket' | 'podsDir' | 'stateDir'>;

function owners(config: PathConfig): { dir: string; option: string }[] {
  return [
    { dir: dirname(config.socket), option: `the socket's folder (--socket / REMOTE_HYPERVISOR_ENDPOINT = ${config.socket})` },
    { dir: config.podsDir, option: 'PODS_DIR (--pods-dir)' },
    { dir: config.stateDir, option: 'the state dir (CAA_STATE_DIR / --state-dir)' },
  ];
}

/** `path` is `dir` or lies below it. */
function isUnder(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * The daemon folder a failing path belongs to: the most specific one holding it (PODS_DIR under the
 * socket's /run/peerpod), else one below it (mkdir failed on a parent such as /run/peerpod).
 */
function ownerOf(path: string, config: PathConfig): { dir: string; option: string } | undefined {
  const all = owners(config);
  const holding = all.filter((o) => isUnder(path, o.dir)).sort((a, b) => b.dir.length - a.dir.length)[0];
  return holding ?? all.find((o) => isUnder(o.dir, path));
}

/** The hint for a path the daemon may not write; `undefined` when `err` is not such an error. */
export function pathAccessError(err: unknown, config: PathConfig): PathAccessError | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (!e || typeof e.code !== 'string' || !NOT_WRITABLE.has(e.code) || typeof e.path !== 'string') return undefined;
  // Only the daemon's own folders: an unreadable provider key or kubeconfig is not a "needs root" case.
  const which = ownerOf(e.path, config);
  if (!which) return undefined;
  const user = process.getuid?.() === 0 ? 'root' : `uid ${process.getuid?.() ?? '?'}`;
  return new PathAccessError(
    e.path,
    e.code,
    `cannot create or write ${e.path}, needed for ${which.option} (${e.code}${e.syscall ? ` on ${e.syscall}` : ''}, running as ${user}). ` +
      `The default paths are under /run/peerpod, which needs root: run the daemon as root, or move every path somewhere writable with ${PATH_OPTIONS} ` +
      `(for example --socket /tmp/caa/hypervisor.sock --pods-dir /tmp/caa/pods --state-dir /tmp/caa/state).`,
  );
}

/** Creates the daemon's folders and checks that it may write them; throws PathAccessError with the hint. */
export async function prepareDaemonPaths(config: PathConfig): Promise<void> {
  for (const { dir } of owners(config)) {
    try {
      await mkdir(dir, { recursive: true });
      // mkdir succeeds on a folder that exists even when we may not write in it.
      await access(dir, constants.W_OK | constants.X_OK);
    } catch (err) {
      throw pathAccessError(err, config) ?? err;
    }
  }
}
