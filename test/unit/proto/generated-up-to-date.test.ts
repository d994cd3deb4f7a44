import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const root = new URL('../../..', import.meta.url).pathname;
let out: string | undefined;
afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe('src/proto/gen', () => {
  it('is what `npm run gen` makes from src/proto/**/*.proto', async () => {
    out = await mkdtemp(join(tmpdir(), 'caa-gen-'));
    const template = JSON.stringify({
      version: 'v2',
      plugins: [{ local: join(root, 'node_modules/.bin/protoc-gen-es'), out, opt: ['target=ts', 'import_extension=js'] }],
    });
    await promisify(execFile)(join(root, 'node_modules/.bin/buf'), ['generate', '--template', template], { cwd: root });
    const committed = join(root, 'src/proto/gen');
    expect(await files(out)).toEqual(await files(committed));
    for (const f of await files(out)) {
      expect(await readFile(join(out, f), 'utf8'), f).toBe(await readFile(join(committed, f), 'utf8'));
    }
  });
});
