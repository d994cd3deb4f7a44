/**
 * Which network namespace a path names. A namespace file (`/proc/<pid>/ns/net`, a bind mount of
 * one under `/var/run/netns`, a symlink to either) is an inode of nsfs: two paths name the same
 * namespace exactly when `stat` gives the same device and inode. Comparing paths would miss
 * `/proc/1/ns/net`, a bind mount or a symlink of the daemon's own namespace.
 */
import { stat } from 'node:fs/promises';

/** The daemon's own network namespace. */
const OWN_NETNS = '/proc/self/ns/net';

/** `dev:ino` of the namespace `path` names (symlinks followed); throws what `stat` throws. */
async function netnsIdentity(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.dev}:${s.ino}`;
}

/**
 * True when `path` names the daemon's own network namespace (on a worker node: the host's). False
 * when it names another one or cannot be read: whoever enters it next reports that problem.
 */
export async function isOwnNetns(path: string): Promise<boolean> {
  if (path === '') return false;
  let theirs: string;
  try {
    theirs = await netnsIdentity(path);
  } catch {
    return false;
  }
  return theirs === (await netnsIdentity(OWN_NETNS));
}
