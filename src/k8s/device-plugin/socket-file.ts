/**
 * Identity of socket files, to tell "the same socket" from "deleted and created again" (the kubelet
 * deletes every plugin socket and recreates kubelet.sock when it restarts). An inode number alone is
 * not enough: a filesystem reuses freed inode numbers at once; the change time in nanoseconds is
 * added to tell the two apart.
 */
import { lstat, stat, unlink } from 'node:fs/promises';
import { DevicePluginError } from './errors.js';

/** `sockaddr_un.sun_path` holds 108 bytes including the terminating NUL. */
export const MAX_UNIX_PATH_BYTES = 107;

export type FileIdentity = string;

/** The identity of the file at `path`, or undefined when there is none (or it cannot be read). */
export async function fileIdentity(path: string): Promise<FileIdentity | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/** Throws INVALID_CONFIG when `path` does not fit in a Unix socket address. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_UNIX_PATH_BYTES) {
    throw new DevicePluginError('INVALID_CONFIG', `unix socket path ${path} is ${bytes} bytes; the limit is ${MAX_UNIX_PATH_BYTES} (shorten the directory)`);
  }
}

/** Throws LISTEN_FAILED when something that is not a socket sits at `path` (we never delete those). */
export async function checkReplaceable(path: string): Promise<void> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isSocket()) {
    throw new DevicePluginError('LISTEN_FAILED', `${path} exists and is not a socket; refusing to replace it`);
  }
}

/** Deletes the file at `path` only if it is still the one with `identity`; true when it did. */
export async function unlinkIfSame(path: string, identity: FileIdentity | undefined): Promise<boolean> {
  if (identity === undefined || (await fileIdentity(path)) !== identity) return false;
  try {
    await unlink(path);
    return true;
  } catch {
    return false;
  }
}
