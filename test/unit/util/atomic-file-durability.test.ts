import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { survivesReboot, writeFileAtomic } from '../../../src/util/atomic-file.js';

/** The file-system type of the mount holding `path`, from /proc/mounts (longest matching mount point). */
function fsType(path: string): string {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '));
  const match = mounts.filter((m) => m[1] && (path === m[1] || path.startsWith(m[1] === '/' ? '/' : `${m[1]}/`))).sort((a, b) => b[1]!.length - a[1]!.length)[0];
  return match?.[2] ?? '';
}

describe('writeFileAtomic without fsync, survivesReboot', () => {
  it('durable: false still replaces the file whole and leaves no temp file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'atomic-'));
    try {
      const path = join(dir, 'state.json');
      await writeFileAtomic(path, 'one', { durable: false });
      await writeFileAtomic(path, 'two', { durable: false, mode: 0o640 });
      expect(await readFile(path, 'utf8')).toBe('two');
      expect(await readdir(dir)).toEqual(['state.json']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tells tmpfs (no durability to gain from fsync) from disk file systems', async () => {
    for (const path of ['/dev/shm', tmpdir(), '/']) {
      const type = fsType(path);
      if (!type) continue;
      expect(await survivesReboot(path), `${path} (${type})`).toBe(type !== 'tmpfs' && type !== 'ramfs');
    }
  });

  it('an unreadable path counts as durable (fsync is the safe default)', async () => {
    expect(await survivesReboot('/nonexistent/dir')).toBe(true);
  });
});
