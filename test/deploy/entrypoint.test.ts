/**
 * deploy/image/entrypoint.sh (the DaemonSet's command) runs `cloud-api-adaptor <provider>`, the provider from
 * its first argument or CLOUD_PROVIDER. Run here with a stand-in `cloud-api-adaptor` on PATH.
 */
import { execFile } from 'node:child_process';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../helpers/async.js';
import { REPO } from './kustomize.js';

const ENTRYPOINT = join(REPO, 'deploy/image/entrypoint.sh');

let bin: string;
beforeAll(async () => {
  bin = await makeTempDir('caa-entry-');
  // Prints how it was called, one argument per line, and proves `exec` (same pid as the script).
  await writeFile(join(bin, 'cloud-api-adaptor'), '#!/bin/sh\necho "pid=$$"\nfor a in "$@"; do echo "arg=$a"; done\n');
  await chmod(join(bin, 'cloud-api-adaptor'), 0o755);
});
afterAll(async () => {
  await removeDir(bin);
});

function runEntrypoint(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'sh',
      ['-c', 'echo "pid=$$"; exec "$0" "$@"', ENTRYPOINT, ...args],
      { env: { PATH: `${bin}:/usr/bin:/bin`, ...env }, timeout: 10_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('deploy/image/entrypoint.sh', () => {
  it('is an executable POSIX shell script', async () => {
    expect((await stat(ENTRYPOINT)).mode & 0o111).toBe(0o111);
    await expect(new Promise((resolve, reject) => execFile('sh', ['-n', ENTRYPOINT], (err) => (err ? reject(err) : resolve('ok'))))).resolves.toBe('ok');
  });

  it('execs cloud-api-adaptor with CLOUD_PROVIDER when given no argument', async () => {
    const r = await runEntrypoint([], { CLOUD_PROVIDER: 'aws' });
    expect(r.code).toBe(0);
    const [shellPid, childPid, ...args] = r.stdout.trim().split('\n');
    expect(childPid).toBe(shellPid); // exec: the daemon replaces the script (same pid), so signals reach it
    expect(args).toEqual(['arg=aws']);
  });

  it('prefers its first argument and passes the rest on as flags', async () => {
    const r = await runEntrypoint(['libvirt', '--log-level', 'debug', 'two words'], { CLOUD_PROVIDER: 'aws' });
    expect(r.stdout.trim().split('\n').slice(2)).toEqual(['arg=libvirt', 'arg=--log-level', 'arg=debug', 'arg=two words']);
  });

  it('without a provider exits 2 saying what to set', async () => {
    const r = await runEntrypoint([], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no provider: pass it as the first argument or set CLOUD_PROVIDER/);
  });
});
