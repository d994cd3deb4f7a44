/**
 * Each sandbox's state on disk, `PODS_DIR/<id>/state.json`, so that a restarted daemon knows what
 * it was doing (DESIGN.md "State"). Intent is written before each cloud call and the outcome after.
 */
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Instance, InstanceSpec } from '../providers/provider.js';
import type { PodNetworkConfig } from '../podvm/apf-config.js';
import { survivesReboot, writeFileAtomic } from '../util/atomic-file.js';
import { ShimError } from './errors.js';

/**
 * created  — CreateVM answered; no cloud call yet.
 * creating — createInstance was (or is about to be) called; an instance may exist without an id here.
 * running  — the instance is recorded in `instance`.
 * stopping — its deletion is under way; finished by whoever runs next (this daemon or its successor).
 */
export type SandboxPhase = 'created' | 'creating' | 'running' | 'stopping';

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
  /** Set in `stopping`: the sandbox goes away once its instances are deleted (false: back to `created`). */
  removeAfterDelete?: boolean;
  createdAt: string;
  updatedAt: string;
}

export const STATE_FILE = 'state.json';
export const AGENT_SOCKET = 'agent.ttrpc';

export interface LoadResult {
  states: SandboxState[];
  /** Folders that could not be read back, with why; left on disk for an operator. */
  unreadable: { dir: string; reason: string }[];
  /** Folders without a state file (a crash between mkdir and the first write), removed. */
  removedEmpty: string[];
}

export class SandboxStore {
  /** Saves of one sandbox run one after another so the last write is the last state. */
  private readonly chains = new Map<string, Promise<void>>();
  /** fsync only where it adds durability (not on tmpfs, PODS_DIR's usual home under /run). */
  private durable: Promise<boolean> | undefined;

  constructor(readonly podsDir: string) {}

  dir(id: string): string {
    return join(this.podsDir, id);
  }

  agentSocketPath(id: string): string {
    return join(this.podsDir, id, AGENT_SOCKET);
  }

  /** Creates the sandbox folder and its first state. ALREADY_EXISTS if the folder is there. */
  async create(state: SandboxState): Promise<void> {
    await mkdir(this.podsDir, { recursive: true, mode: 0o755 });
    try {
      await mkdir(this.dir(state.id), { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new ShimError('ALREADY_EXISTS', `sandbox ${state.id} already exists`);
      }
      throw err;
    }
    await this.save(state);
  }

  /** Writes the state atomically; concurrent saves of one sandbox land in call order. */
  save(state: SandboxState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    const data = JSON.stringify(state, null, 2);
    const prev = this.chains.get(state.id) ?? Promise.resolve();
    this.durable ??= survivesReboot(this.podsDir);
    const durable = this.durable;
    const next = prev
      .catch(() => undefined)
      .then(async () => writeFileAtomic(join(this.dir(state.id), STATE_FILE), data, { durable: await durable }));
    this.chains.set(state.id, next);
    void next.finally(() => {
      if (this.chains.get(state.id) === next) this.chains.delete(state.id);
    }).catch(() => undefined);
    return next;
  }

  /** Removes the sandbox folder and everything in it. Idempotent. */
  async remove(id: string): Promise<void> {
    await (this.chains.get(id) ?? Promise.resolve()).catch(() => undefined);
    await rm(this.dir(id), { recursive: true, force: true });
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
      let text: string;
      try {
        text = await readFile(join(dir, STATE_FILE), 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          if (options.readOnly) continue;
          await rm(dir, { recursive: true, force: true });
          result.removedEmpty.push(dir);
        } else if (code !== 'ENOTDIR') {
          result.unreadable.push({ dir, reason: (err as Error).message });
        }
        continue;
      }
      try {
        const state = JSON.parse(text) as SandboxState;
        if (state.version !== 1 || state.id !== name || !state.phase) throw new Error('not a version 1 state for this folder');
        result.states.push(state);
      } catch (err) {
        result.unreadable.push({ dir, reason: (err as Error).message });
      }
    }
    return result;
  }
}
