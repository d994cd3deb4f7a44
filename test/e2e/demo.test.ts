import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = new URL('../..', import.meta.url).pathname;

describe('npm run demo', () => {
  it('plays the shim through every step, shows the policy refusal, and leaves nothing behind', { timeout: 120_000 }, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', `${root}scripts/demo.ts`], { cwd: root, timeout: 110_000 });
    expect(stdout).toContain('✔ StartVM');
    expect(stdout).toContain('PERMISSION_DENIED: ExecProcess is refused by policy');
    expect(stdout).toContain('nothing left behind');
    expect(stdout).not.toContain('✘');
    if (process.getuid?.() === 0) expect(stdout).toMatch(/✔ peer pod pings 10\.244\.77\.5/);
  });
});
