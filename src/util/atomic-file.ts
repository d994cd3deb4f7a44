import { open, rename, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  /**
   * fsync the file and its folder, so the write survives a power loss as well as a crash of the
   * process (default true). Pointless on tmpfs: see `survivesReboot`.
   */
  durable?: boolean;
}

/**
 * Writes `data` so that a reader (or a daemon restarted after a crash) sees either the old file or
 * the new one, never a torn one: temp file in the same folder, (fsync,) rename, (fsync of the folder).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: number | AtomicWriteOptions = {}): Promise<void> {
  const { mode = 0o600, durable = true } = typeof options === 'number' ? { mode: options } : options;
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  if (durable) {
    const fh = await open(tmp, 'w', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } catch (err) {
      // The write's error is the one to report (ENOSPC, EIO, …), not a close that fails after it.
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
  } else {
    try {
      await writeFile(tmp, data, { mode });
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  if (!durable) return;
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

const TMPFS_MAGIC = 0x01021994;
const RAMFS_MAGIC = 0x858458f6;

/**
 * Whether files under `dir` outlive a reboot: false on tmpfs and ramfs (where `/run` lives), whose
 * contents are gone after a power loss whatever fsync did, so fsync there only costs time.
 */
export async function survivesReboot(dir: string): Promise<boolean> {
  try {
    const { type } = await statfs(dir);
    return type !== TMPFS_MAGIC && type !== RAMFS_MAGIC;
  } catch {
    return true;
  }
}
