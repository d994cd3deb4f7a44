/**
 * The sandbox store on its own: the state files this version writes load back, anything else is
 * reported unreadable with what is wrong, and a write the disk refuses (injected through the
 * store's fs seam) becomes a ShimError with a stable code, naming PODS_DIR, with nothing left.
 * The same faults on a real full / read-only file system: test/integration/sandbox-storage-faults.
 */
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ShimError } from '../../../src/shim/errors.js';
import { SandboxStore, STATE_FILE, type SandboxState, type StoreFs } from '../../../src/shim/sandbox-store.js';
import { writeFileAtomic } from '../../../src/util/atomic-file.js';
import { mkdir as fsMkdir, rm as fsRm } from 'node:fs/promises';

const FIXTURES = join(import.meta.dirname, '../../fixtures/sandbox-state');
const exists = (p: string) => access(p).then(() => true, () => false);

let dir: string;
let podsDir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'caa-store-'));
  podsDir = join(dir, 'pods');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function state(id: string, overrides: Partial<SandboxState> = {}): SandboxState {
  const now = new Date().toISOString();
  return {
    version: 1,
    id,
    podName: 'nginx',
    podNamespace: 'default',
    netnsPath: '',
    instanceName: `podvm-nginx-${id.slice(0, 8)}`,
    spec: { instanceType: '', vcpus: 0, memoryMiB: 0, gpus: 0, gpuModel: '', image: '', multiNic: false },
    initdata: '',
    phase: 'created',
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** Places `text` as the state file of sandbox `id`. */
async function placeState(id: string, text: string): Promise<string> {
  await mkdir(join(podsDir, id), { recursive: true });
  const file = join(podsDir, id, STATE_FILE);
  await writeFile(file, text);
  return file;
}

describe('loading state files', () => {
  it('loads the state files the current version writes (created, creating, running with a network, stopping)', async () => {
    const ids = ['created1', 'creating1', 'running1', 'stopping1'];
    for (const id of ids) await placeState(id, await readFile(join(FIXTURES, `${id}.json`), 'utf8'));
    const loaded = await new SandboxStore(podsDir).loadAll();
    expect(loaded.unreadable).toEqual([]);
    expect(loaded.states.map((s) => [s.id, s.phase])).toEqual([
      ['created1', 'created'],
      ['creating1', 'creating'],
      ['running1', 'running'],
      ['stopping1', 'stopping'],
    ]);
    // Loaded as written, nothing dropped or changed.
    for (const s of loaded.states) expect(s).toEqual(JSON.parse(await readFile(join(FIXTURES, `${s.id}.json`), 'utf8')));
  });

  it('what it saves, it loads back', async () => {
    const store = new SandboxStore(podsDir);
    const s = state('roundtrip', { phase: 'running', instance: { id: 'i-9', name: 'podvm-x', ips: ['10.0.0.9'] }, networkConnected: false });
    await store.create(s);
    const loaded = await store.loadAll();
    expect(loaded.unreadable).toEqual([]);
    expect(loaded.states).toEqual([s]);
  });

  it('writes intent remove with removeAfterDelete: true (what a rolled-back daemon reads), intent run without it', async () => {
    const store = new SandboxStore(podsDir);
    const removing = state('removing', { phase: 'stopping', intent: 'remove' });
    const running = state('running', { phase: 'running', intent: 'run', removeAfterDelete: true });
    await store.create(removing);
    await store.create(running);
    const onDisk = async (id: string) => JSON.parse(await readFile(join(podsDir, id, STATE_FILE), 'utf8')) as Record<string, unknown>;
    expect(await onDisk('removing')).toMatchObject({ intent: 'remove', removeAfterDelete: true });
    expect(await onDisk('running')).toMatchObject({ intent: 'run' });
    expect(await onDisk('running')).not.toHaveProperty('removeAfterDelete');
    // The state handed in is not changed by the save.
    expect(running.removeAfterDelete).toBe(true);
    expect('removeAfterDelete' in removing).toBe(false);
  });

  it('keeps keys it does not know (a newer version\'s record survives a re-save)', async () => {
    const text = JSON.stringify({ ...state('newer'), futureField: { a: 1 } });
    await placeState('newer', text);
    const loaded = await new SandboxStore(podsDir).loadAll();
    expect(loaded.states[0]).toMatchObject({ id: 'newer', futureField: { a: 1 } });
  });

  const bad: [string, (s: Record<string, unknown>) => void, RegExp][] = [
    ['an unknown phase', (s) => void (s.phase = 'paused'), /phase: .*"created".*\(got "paused"\)/],
    ['no phase', (s) => void delete s.phase, /phase: /],
    ['another version', (s) => void (s.version = 2), /version: .*\(got 2\)/],
    ['a spec field of the wrong type', (s) => void ((s.spec as Record<string, unknown>).vcpus = 'two'), /spec\.vcpus: .*\(got "two"\)/],
    ['an instance without an id', (s) => void (s.instance = { name: 'x', ips: [] }), /instance\.id: /],
    ['a network plan that is not one', (s) => void (s.network = { index: 0, vni: 555000, config: { podip: 'nope' } }), /network\.config\.podip: /],
    ['a negative VNI', (s) => void (s.network = { index: 0, vni: -1, config: {} }), /network\.vni: /],
  ];
  for (const [what, mutate, reason] of bad) {
    it(`a state with ${what} is unreadable, says what is wrong, and is left on disk`, async () => {
      const s = JSON.parse(JSON.stringify(state('weird'))) as Record<string, unknown>;
      mutate(s);
      const text = JSON.stringify(s);
      const file = await placeState('weird', text);
      await placeState('fine', JSON.stringify(state('fine')));
      const loaded = await new SandboxStore(podsDir).loadAll();
      expect(loaded.states.map((x) => x.id)).toEqual(['fine']);
      expect(loaded.unreadable).toHaveLength(1);
      expect(loaded.unreadable[0]).toMatchObject({ dir: join(podsDir, 'weird'), file });
      expect(loaded.unreadable[0]!.reason).toMatch(reason);
      expect(await readFile(file, 'utf8')).toBe(text);
    });
  }

  it('a file with many problems is described by its first five', async () => {
    await placeState('junk', JSON.stringify(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))));
    const loaded = await new SandboxStore(podsDir).loadAll();
    const reason = loaded.unreadable[0]?.reason ?? '';
    expect(reason.split('; ')).toHaveLength(6);
    expect(reason).toMatch(/; and \d+ more$/);
  });

  it('a state whose id is not its folder\'s is unreadable', async () => {
    await placeState('folder-a', JSON.stringify(state('folder-b')));
    const loaded = await new SandboxStore(podsDir).loadAll();
    expect(loaded.states).toEqual([]);
    expect(loaded.unreadable[0]?.reason).toMatch(/id "folder-b" is not its folder's name/);
  });

  it('text that is not JSON, or JSON that is not an object, is unreadable', async () => {
    await placeState('broken', '{not json');
    await placeState('list', '[]');
    const loaded = await new SandboxStore(podsDir).loadAll();
    expect(loaded.states).toEqual([]);
    expect(loaded.unreadable.map((u) => u.reason)).toEqual([expect.stringMatching(/^not JSON: /), expect.stringMatching(/^not a version 1 sandbox state: \(document\): /)]);
  });
});

/** The real file operations, with one of them failing with `code` while `failing` says so. */
function faultyFs(code: string, op: keyof StoreFs): StoreFs & { failing: boolean } {
  const fail = (): never => {
    // Shaped like Node's own fs errors: `<CODE>: <text>, <syscall>`.
    throw Object.assign(new Error(`${code}: injected failure, ${op === 'rm' ? 'rmdir' : op === 'mkdir' ? 'mkdir' : 'write'}`), { code });
  };
  const fs = {
    failing: true,
    mkdir: (p: string, o: { recursive?: boolean; mode?: number }) => (fs.failing && op === 'mkdir' ? fail() : fsMkdir(p, o)),
    writeFileAtomic: (p: string, d: string, o: { durable?: boolean }) => (fs.failing && op === 'writeFileAtomic' ? fail() : writeFileAtomic(p, d, o)),
    rm: (p: string, o: { recursive: boolean; force: boolean }) => (fs.failing && op === 'rm' ? fail() : fsRm(p, o)),
  };
  return fs;
}

async function rejection(p: Promise<unknown>): Promise<ShimError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ShimError);
  return err as ShimError;
}

describe('a disk that refuses the write (injected)', () => {
  const codes: [string, string, RegExp][] = [
    ['ENOSPC', 'RESOURCE_EXHAUSTED', /injected failure \(ENOSPC\)$/],
    ['EDQUOT', 'RESOURCE_EXHAUSTED', /\(EDQUOT\)$/],
    ['EROFS', 'UNAVAILABLE', /\(EROFS\)$/],
    ['EACCES', 'UNAVAILABLE', /\(EACCES\)$/],
    ['EIO', 'UNAVAILABLE', /\(EIO\)$/],
    ['EMFILE', 'INTERNAL', /\(EMFILE\)$/],
  ];
  for (const [errno, want, tail] of codes) {
    it(`create: ${errno} → ${want} naming PODS_DIR, no folder left, and the id works once the disk does`, async () => {
      const fs = faultyFs(errno, 'writeFileAtomic');
      const store = new SandboxStore(podsDir, fs);
      const err = await rejection(store.create(state('sb1')));
      expect(err.code).toBe(want);
      expect(err.message.startsWith(`cannot write the sandbox state under PODS_DIR=${podsDir} (${join(podsDir, 'sb1', STATE_FILE)}): `)).toBe(true);
      expect(err.message).toMatch(tail);
      expect(await exists(join(podsDir, 'sb1'))).toBe(false);
      fs.failing = false;
      await store.create(state('sb1'));
      expect((await store.loadAll()).states.map((s) => s.id)).toEqual(['sb1']);
    });
  }

  it('create: the sandbox folder cannot be made (EROFS) → UNAVAILABLE naming the folder', async () => {
    const store = new SandboxStore(podsDir, faultyFs('EROFS', 'mkdir'));
    const err = await rejection(store.create(state('sb1')));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`cannot create the sandbox folder under PODS_DIR=${podsDir} (${podsDir}): injected failure (EROFS)`);
  });

  it('create: a folder left without a state (a clean-up that could not run) is taken over; one with a state is ALREADY_EXISTS', async () => {
    const store = new SandboxStore(podsDir);
    await mkdir(join(podsDir, 'left'), { recursive: true });
    await store.create(state('left'));
    expect((await store.loadAll()).states.map((s) => s.id)).toEqual(['left']);
    const err = await rejection(store.create(state('left')));
    expect(err.code).toBe('ALREADY_EXISTS');
  });

  it('save: ENOSPC → RESOURCE_EXHAUSTED, the previous state stays whole', async () => {
    const fs = faultyFs('ENOSPC', 'writeFileAtomic');
    fs.failing = false;
    const store = new SandboxStore(podsDir, fs);
    const s = state('sb1');
    await store.create(s);
    fs.failing = true;
    const err = await rejection(store.save({ ...s, phase: 'creating' }));
    expect(err.code).toBe('RESOURCE_EXHAUSTED');
    expect((await store.loadAll()).states[0]?.phase).toBe('created');
  });

  it('remove: EROFS → UNAVAILABLE naming the folder', async () => {
    const fs = faultyFs('EROFS', 'rm');
    fs.failing = false;
    const store = new SandboxStore(podsDir, fs);
    await store.create(state('sb1'));
    fs.failing = true;
    const err = await rejection(store.remove('sb1'));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toBe(`cannot remove the sandbox folder under PODS_DIR=${podsDir} (${join(podsDir, 'sb1')}): injected failure (EROFS)`);
    fs.failing = false;
    await store.remove('sb1');
    expect(await exists(join(podsDir, 'sb1'))).toBe(false);
  });

  it('real errno text is shown without the syscall and path Node appends', async () => {
    // A folder where the state file should be: rename fails with EISDIR, an ordinary Node fs error.
    const store = new SandboxStore(podsDir);
    await store.create(state('sb1'));
    await rm(join(podsDir, 'sb1', STATE_FILE));
    await mkdir(join(podsDir, 'sb1', STATE_FILE, 'x'), { recursive: true });
    const err = await rejection(store.save(state('sb1')));
    expect(err.code).toBe('INTERNAL');
    expect(err.message).toMatch(/: [a-z][^,']+ \((EISDIR|ENOTEMPTY|EEXIST)\)$/);
  });
});
