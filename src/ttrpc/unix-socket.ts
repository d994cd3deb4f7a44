/**
 * Listening on a Unix socket path the way the shim expects (reference §3.2, wire-notes): the parent
 * folder is created, a stale socket is replaced, a live one is not (another process serves on it),
 * and closing never deletes a socket that a successor has put in our place.
 */
import { mkdir, rename, stat, unlink, lstat } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { clampTimerDelay } from '../util/timers.js';
import { singleCodeError } from '../util/coded-error.js';

/** `sockaddr_un.sun_path` holds 108 bytes including the terminating NUL. */
export const MAX_UNIX_PATH_BYTES = 107;

export class SocketPathError extends singleCodeError('SocketPathError', 'INVALID_CONFIG') {}

export function checkUnixSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new SocketPathError(
      `unix socket path ${path} is ${bytes} bytes; the limit is ${MAX_UNIX_PATH_BYTES} (shorten the directory)`,
    );
  }
}

/** Another process accepts connections on the socket: replacing it would cut that process off silently. */
export class SocketInUseError extends singleCodeError('SocketInUseError', 'SOCKET_IN_USE') {}

/** Whether something accepts connections on `path` (a stale socket file refuses them). */
function socketAnswers(path: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const done = (live: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(live);
    };
    // No answer at all: a listener that is alive but slow still owns the socket.
    const timer = setTimeout(() => done(true), clampTimerDelay(timeoutMs));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function bind(server: Server, path: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(path, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

export interface UnixListener {
  readonly server: Server;
  readonly path: string;
  /** Stops listening; removes the socket file only if it is still the one this listener created. */
  close(): Promise<void>;
}

/**
 * Binds a temporary name next to `path`, then renames it into place: replacing a stale socket is
 * atomic, and libuv's unlink-on-close then targets the temporary name, which no longer exists. A
 * socket that still accepts connections is refused with SocketInUseError (two daemons with one
 * socket path; the rolling-update handover goes through the PODS_DIR lock, shim/owner-lock.ts).
 */
export async function listenUnix(path: string, server: Server = createServer()): Promise<UnixListener> {
  checkUnixSocketPath(path);
  await mkdir(dirname(path), { recursive: true });
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isSocket()) {
    throw new SocketPathError(`${path} exists and is not a socket; refusing to replace it`);
  }
  if (existing && (await socketAnswers(path))) {
    throw new SocketInUseError(`another process serves on ${path}; refusing to take its socket (stop it, or choose another path)`);
  }
  // A short temporary name, so that a path near the 107-byte limit still has room for it.
  const tmp = join(dirname(path), `.${randomBytes(3).toString('hex')}`);
  if (Buffer.byteLength(tmp) <= MAX_UNIX_PATH_BYTES) {
    await bind(server, tmp);
    await rename(tmp, path);
  } else {
    // No room for a temporary name: replace the stale socket the plain way.
    if (existing) await unlink(path);
    await bind(server, path);
  }
  const ino = (await stat(path)).ino;
  return {
    server,
    path,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const now = await stat(path).catch(() => undefined);
      if (now && now.ino === ino) await unlink(path).catch(() => undefined);
    },
  };
}
