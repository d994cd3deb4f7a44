/** When `npm start` (scripts/start.mjs) rebuilds dist/: only when it is missing or older than what it is built from. */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { staleReason } from '../../../scripts/start.mjs';

let base: string;
const T0 = new Date('2026-01-01T00:00:00Z');
const later = (s: number): Date => new Date(T0.getTime() + s * 1000);

async function file(rel: string, at: Date): Promise<void> {
  await mkdir(join(base, rel, '..'), { recursive: true });
  await writeFile(join(base, rel), 'x');
  await utimes(join(base, rel), at, at);
}

describe('start launcher: is dist/ stale?', () => {
  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 'caa-start-stale-'));
    await file('src/cli/cloud-api-adaptor.ts', T0);
    await file('tsconfig.json', T0);
    await file('package.json', T0);
    for (const d of ['src/cli', 'src']) await utimes(join(base, d), T0, T0);
  });
  afterEach(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('no build yet: no stamp, or no compiled entry point', async () => {
    expect(staleReason(base)).toBe('no build yet');
    await file('dist/.build-stamp', later(10));
    expect(staleReason(base)).toBe('no build yet');
    await file('dist/cli/cloud-api-adaptor.js', later(10));
    expect(staleReason(base)).toBeUndefined();
  });

  it('a source edited, added or removed after the build, or a changed tsconfig.json / package.json', async () => {
    await file('dist/cli/cloud-api-adaptor.js', later(10));
    await file('dist/.build-stamp', later(10));
    expect(staleReason(base)).toBeUndefined();
    await utimes(join(base, 'src/cli/cloud-api-adaptor.ts'), later(20), later(20));
    expect(staleReason(base)).toBe('src changed since the last build');
    await utimes(join(base, 'src/cli/cloud-api-adaptor.ts'), T0, T0);
    // A file removed or renamed shows only in its folder's time.
    await utimes(join(base, 'src/cli'), later(20), later(20));
    expect(staleReason(base)).toBe('src changed since the last build');
    await utimes(join(base, 'src/cli'), T0, T0);
    await utimes(join(base, 'tsconfig.json'), later(20), later(20));
    expect(staleReason(base)).toBe('tsconfig.json changed since the last build');
  });
});
