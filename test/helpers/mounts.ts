/**
 * Whether this process may mount (tmpfs, bind mounts): root alone is not enough — a container without
 * CAP_SYS_ADMIN is root and still gets EPERM. Probed once with a tiny tmpfs; the reason says why not.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../../src/util/run-command.js';
import { messageOf } from '../../src/util/errors.js';

let probed: Promise<string | undefined> | undefined;

export function mountTestsUnavailable(what: string): Promise<string | undefined> {
  probed ??= probe();
  return probed.then((reason) => (reason ? `needs to mount (${what}): ${reason}` : undefined));
}

async function probe(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'not root';
  const dir = await mkdtemp(join(tmpdir(), 'caa-mount-probe-'));
  try {
    await runCommand(['mount', '-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return `mount failed (no CAP_SYS_ADMIN?): ${messageOf(err).split('\n')[0]}`;
  }
  await runCommand(['umount', dir]).catch(() => runCommand(['umount', '-l', dir]).catch(() => undefined));
  await rm(dir, { recursive: true, force: true });
  return undefined;
}
