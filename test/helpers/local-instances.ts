/**
 * The local provider's instance records as an end-to-end test reads them, what of them is still
 * there after a test (namespaces, veths), and the forced clean-up of whatever a failed test left:
 * detached processes, namespaces, veths, the host bridge.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LocalInstanceRecord {
  id: string;
  ip: string;
  pids: number[];
  netns?: string;
  hostIf?: string;
  podNetns?: string;
}

export async function localInstanceRecords(stateDir: string): Promise<LocalInstanceRecord[]> {
  const base = join(stateDir, 'local/instances');
  const names = await readdir(base).catch(() => [] as string[]);
  // A folder without a record (a create interrupted before writing it) is still a trace: report it.
  return Promise.all(
    names.map(async (n) => {
      const text = await readFile(join(base, n, 'record.json'), 'utf8').catch(() => undefined);
      return text === undefined ? { id: n, ip: '', pids: [] } : (JSON.parse(text) as LocalInstanceRecord);
    }),
  );
}

/** The namespaces and host-side links that `records` name and that still exist. */
export async function survivingNetwork(records: Iterable<Pick<LocalInstanceRecord, 'netns' | 'podNetns' | 'hostIf'>>): Promise<{ namespaces: string[]; links: string[] }> {
  const existing = new Set((await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }))).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
  const namespaces: string[] = [];
  const links: string[] = [];
  for (const r of records) {
    for (const ns of [r.netns, r.podNetns]) if (ns && existing.has(ns)) namespaces.push(ns);
    if (r.hostIf && (await run('ip', ['link', 'show', r.hostIf]).then(() => true, () => false))) links.push(r.hostIf);
  }
  return { namespaces, links };
}

/** Kills and removes everything the records name, plus the given bridge. Never throws. */
export async function forceCleanLocalInstances(stateDir: string, bridge?: string): Promise<void> {
  for (const r of await localInstanceRecords(stateDir).catch(() => [])) {
    for (const pid of r.pids) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const ns of [r.podNetns, r.netns]) if (ns) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (r.hostIf) await run('ip', ['link', 'del', r.hostIf]).catch(() => undefined);
  }
  if (bridge) await run('ip', ['link', 'del', bridge]).catch(() => undefined);
}
