/**
 * Each sandbox's state on disk, `PODS_DIR/<id>/state.json`, so that a restarted daemon knows what
 * it was doing (DESIGN.md "State"). Intent is written before each cloud call and the outcome after.
 */
import { messageOf } from '../util/errors.js';
import { access, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Instance, InstanceSpec } from '../providers/provider.js';
import { podNetworkSchema, type PodNetworkConfig } from '../podvm/apf-config.js';
import { survivesReboot, writeFileAtomic, type AtomicWriteOptions } from '../util/atomic-file.js';
import { ShimError, storageError } from './errors.js';

/**
 * created  — CreateVM answered; no cloud call yet.
 * creating — createInstance was (or is about to be) called; an instance may exist without an id here.
 * running  — the instance is recorded in `instance`.
 * stopping — its deletion is under way; finished by whoever runs next (this daemon or its successor).
 */
const SANDBOX_PHASES = ['created', 'creating', 'running', 'stopping'] as const;
export type SandboxPhase = (typeof SANDBOX_PHASES)[number];

/**
 * What the shim last asked for: `run` (CreateVM, StartVM) or `remove` (StopVM). A `stopping` sandbox
 * whose intent is `remove` goes away once its instances are deleted; with `run` it returns to `created`
 * (a failed start). The moves between phases: sandbox-lifecycle.ts.
 */
const SANDBOX_INTENTS = ['run', 'remove'] as const;
export type SandboxIntent = (typeof SANDBOX_INTENTS)[number];

export interface SandboxState {
  version: 1;
  id: string;
  podName: string;
  podNamespace: string;
  netnsPath: string;
  instanceName: string;
  spec: InstanceSpec;
  /** Raw TOML from the shim, kept so a StartVM after a restart still has it. */
  initdata: string;
  phase: SandboxPhase;
  /** The pod network plan (VNI included) when the pod has a network namespace. */
  network?: { index: number; vni: number; config: PodNetworkConfig };
  /** Set once the worker side of the pod network is up (StartVM); cleared after teardown. */
  networkConnected?: boolean;
  instance?: Instance;
  /**
   * Absent only in files written before it existed (then `removeAfterDelete` says it):
   * `intentOf` in sandbox-lifecycle.ts reads either.
   */
  intent?: SandboxIntent;
  /**
   * The previous version's form of `intent: 'remove'`. Read only through `intentOf`; `save` writes it
   * from `intent` so that a rolled-back daemon, which knows only this flag, reads the file the same.
   */
  removeAfterDelete?: boolean;
  createdAt: string;
  updatedAt: string;
}

export const STATE_FILE = 'state.json';

/**
 * The state as written: `removeAfterDelete` follows `intent`, so a daemon rolled back to the version
 * before `intent` (it reads only the flag, and keeps `intent` as a key it does not know) means the same.
 */
function withRollbackFlag(state: SandboxState): SandboxState {
  if (state.intent === undefined) return state;
  const { removeAfterDelete: _legacy, ...rest } = state;
  return state.intent === 'remove' ? { ...rest, removeAfterDelete: true } : rest;
}
export const AGENT_SOCKET = 'agent.ttrpc';

/**
 * What a state file must hold to be acted on. Keys this version does not know are kept (a newer
 * version's record survives a rollback's re-save); a bad or missing known key, an unknown phase
 * included, makes the file unreadable: left on disk for an operator rather than guessed at.
 */
const instanceSchema = z.looseObject({
  id: z.string().min(1),
  name: z.string(),
  ips: z.array(z.string()),
  instanceType: z.string().optional(),
});

const specSchema = z.looseObject({
  instanceType: z.string(),
  vcpus: z.number().int().min(0),
  memoryMiB: z.number().int().min(0),
  gpus: z.number().int().min(0),
  gpuModel: z.string(),
  image: z.string(),
  multiNic: z.boolean(),
});

const stateSchema: z.ZodType<SandboxState> = z.looseObject({
  version: z.literal(1),
  id: z.string().min(1),
  podName: z.string(),
  podNamespace: z.string(),
  netnsPath: z.string(),
  instanceName: z.string().min(1),
  spec: specSchema,
  initdata: z.string(),
  phase: z.enum(SANDBOX_PHASES),
  network: z
    .object({
      index: z.number().int().min(0),
      vni: z.number().int().min(0).max(0xffffff),
      config: podNetworkSchema,
    })
    .optional(),
  networkConnected: z.boolean().optional(),
  instance: instanceSchema.optional(),
  intent: z.enum(SANDBOX_INTENTS).optional(),
  removeAfterDelete: z.boolean().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

function keyOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out || '(document)';
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  return v;
}

/** `phase: Invalid option: expected one of … (got "paused"); spec.vcpus: …` — every problem with its key. */
function describeIssues(error: z.ZodError, value: unknown): string {
  const shownIssues = 5; // a file of garbage is not logged whole
  const more = error.issues.length - shownIssues;
  return error.issues
    .slice(0, shownIssues)
    .map((i) => {
      const got = valueAt(value, i.path);
      const shown = got === undefined || (got !== null && typeof got === 'object') ? '' : ` (got ${JSON.stringify(got).slice(0, 100)})`;
      return `${keyOf(i.path).slice(0, 200)}: ${i.message}${shown}`;
    })
    .join('; ')
    .concat(more > 0 ? `; and ${more} more` : '');
}

/** Reads one state file's text; throws an Error saying what is wrong with it. */
function parseSandboxState(text: string, folderName: string): SandboxState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${messageOf(err)}`, { cause: err });
  }
  const r = stateSchema.safeParse(value);
  if (!r.success) throw new Error(`not a version 1 sandbox state: ${describeIssues(r.error, value)}`);
  if (r.data.id !== folderName) throw new Error(`its id ${JSON.stringify(r.data.id.slice(0, 200))} is not its folder's name`);
  return r.data;
}

export interface LoadResult {
  states: SandboxState[];
  /** Folders whose state could not be read back, with the file and why; left on disk for an operator. */
  unreadable: { id: string; dir: string; file: string; reason: string }[];
  /** Folders without a state file (a crash between mkdir and the first write), removed. */
  removedEmpty: string[];
}

/**
 * The file operations that write; a test injects failures here (the real ones: node:fs and
 * writeFileAtomic). A stand-in must reject with Node's errno errors (`code`: ENOSPC, EEXIST, …):
 * `create` relies on EEXIST and `storageError` maps the code. Reads (readFile, readdir, `access` in
 * `hasState`) go to node:fs directly.
 */
export interface StoreFs {
  mkdir(path: string, options: { recursive?: boolean; mode?: number }): Promise<unknown>;
  writeFileAtomic(path: string, data: string, options: AtomicWriteOptions): Promise<void>;
  rm(path: string, options: { recursive: boolean; force: boolean }): Promise<void>;
}

const nodeFs: StoreFs = { mkdir, writeFileAtomic, rm };

export class SandboxStore {
  /** Saves of one sandbox run one after another so the last write is the last state. */
  private readonly chains = new Map<string, Promise<void>>();
  /** Folder removals under way: a CreateVM reusing the id waits for them. */
  private readonly removals = new Map<string, Promise<void>>();
  /** fsync only where it adds durability (not on tmpfs, PODS_DIR's usual home under /run). */
  private durable: Promise<boolean> | undefined;

  constructor(
    readonly podsDir: string,
    private readonly fs: StoreFs = nodeFs,
  ) {}

  dir(id: string): string {
    return join(this.podsDir, id);
  }

  agentSocketPath(id: string): string {
    return join(this.podsDir, id, AGENT_SOCKET);
  }

  /**
   * Creates the sandbox folder and its first state. ALREADY_EXISTS if a state is there. When the
   * state cannot be written (full or read-only disk) the folder goes again, so the same id can be
   * created once the disk is fixed; the error names PODS_DIR (RESOURCE_EXHAUSTED / UNAVAILABLE).
   */
  async create(state: SandboxState): Promise<void> {
    const dir = this.dir(state.id);
    await this.removals.get(state.id);
    try {
      await this.fs.mkdir(this.podsDir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw storageError('create the sandbox folder', this.podsDir, this.podsDir, err);
    }
    try {
      await this.fs.mkdir(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw storageError('create the sandbox folder', this.podsDir, dir, err);
      // A folder without a state is what a crash before the first write (or a failed clean-up)
      // leaves; a restart would remove it, so take it over. The caller holds the id in memory.
      if (await this.hasState(state.id)) throw new ShimError('ALREADY_EXISTS', `sandbox ${state.id} already exists`);
    }
    try {
      await this.save(state);
    } catch (err) {
      await this.fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }

  private async hasState(id: string): Promise<boolean> {
    const path = join(this.dir(id), STATE_FILE);
    try {
      await access(path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      // EACCES, EIO, …: not "already exists" — say what is wrong with PODS_DIR.
      throw storageError('check the sandbox state', this.podsDir, path, err);
    }
  }

  /** Writes the state atomically; concurrent saves of one sandbox land in call order. */
  save(state: SandboxState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    const data = JSON.stringify(withRollbackFlag(state), null, 2);
    const path = join(this.dir(state.id), STATE_FILE);
    const prev = this.chains.get(state.id) ?? Promise.resolve();
    this.durable ??= survivesReboot(this.podsDir);
    const durable = this.durable;
    const next = prev
      .catch(() => undefined)
      .then(async () => {
        try {
          await this.fs.writeFileAtomic(path, data, { durable: await durable });
        } catch (err) {
          throw storageError('write the sandbox state', this.podsDir, path, err);
        }
      });
    this.chains.set(state.id, next);
    void next.finally(() => {
      if (this.chains.get(state.id) === next) this.chains.delete(state.id);
    }).catch(() => undefined);
    return next;
  }

  /** Removes the sandbox folder and everything in it. Idempotent. */
  remove(id: string): Promise<void> {
    const dir = this.dir(id);
    const removal = (async () => {
      await (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined);
      try {
        await this.fs.rm(dir, { recursive: true, force: true });
      } catch (err) {
        throw storageError('remove the sandbox folder', this.podsDir, dir, err);
      }
    })();
    const settled = removal.catch(() => undefined);
    this.removals.set(id, settled);
    void settled.then(() => {
      if (this.removals.get(id) === settled) this.removals.delete(id);
    });
    return removal;
  }

  /** `readOnly`: leave folders without state in place (the `--reap-dry-run` view of a live daemon's store). */
  async loadAll(options: { readOnly?: boolean } = {}): Promise<LoadResult> {
    const result: LoadResult = { states: [], unreadable: [], removedEmpty: [] };
    let entries: string[];
    try {
      entries = await readdir(this.podsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return result;
      throw err;
    }
    for (const name of entries.sort()) {
      const dir = join(this.podsDir, name);
      const file = join(dir, STATE_FILE);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          if (options.readOnly) continue;
          await this.fs.rm(dir, { recursive: true, force: true });
          result.removedEmpty.push(dir);
        } else if (code !== 'ENOTDIR') {
          result.unreadable.push({ id: name, dir, file, reason: messageOf(err) });
        }
        continue;
      }
      try {
        result.states.push(parseSandboxState(text, name));
      } catch (err) {
        result.unreadable.push({ id: name, dir, file, reason: messageOf(err) });
      }
    }
    return result;
  }
}
