/**
 * Which kernel modules the pod VM's initramfs carries, and in which order it loads them.
 *
 * The Debian kernel builds virtio, ext4, isofs, VXLAN and netfilter as modules, and the initramfs
 * has no kmod/depmod: busybox `insmod` loads exactly one file and fails when a symbol of another
 * module is missing. So the build reads each wanted module's `.modinfo` section (`depends=` and
 * `softdep=pre:`), walks the closure, and writes an order in which every module follows the ones
 * it needs.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export class ModuleError extends Error {
  readonly code = 'PODVM_MODULE';
}

/** Module names use `_` and `-` interchangeably; the kernel treats them as one. */
export const moduleKey = (name: string): string => name.replace(/-/g, '_');

export interface ModuleInfo {
  name: string;
  path: string;
  depends: string[];
  /** `softdep=pre:` modules (ext4 → crc32c); aliases like `crypto-crc32c` are resolved by the caller's alias table. */
  softPre: string[];
}

/** The `key=value` strings of a module's `.modinfo` (NUL-separated; read from the whole file, which is enough for the keys we need). */
export function parseModinfo(ko: Buffer): { depends: string[]; softPre: string[] } {
  const depends: string[] = [];
  const softPre: string[] = [];
  for (const m of ko.toString('latin1').matchAll(/(?<=\0)(depends|softdep)=([^\0]*)/g)) {
    const value = m[2] ?? '';
    if (m[1] === 'depends') depends.push(...value.split(',').filter(Boolean).map(moduleKey));
    else {
      const pre = /pre:\s*([^:]*?)(?:\s+post:.*)?$/.exec(value);
      if (pre?.[1]) softPre.push(...pre[1].trim().split(/\s+/).filter(Boolean));
    }
  }
  return { depends, softPre };
}

/** Every `*.ko` under `moduleDir` (lib/modules/<version>), by module key. */
export async function indexModules(moduleDir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else if (entry.name.endsWith('.ko')) index.set(moduleKey(entry.name.slice(0, -3)), p);
    }
  };
  await walk(moduleDir);
  return index;
}

/** Aliases that soft dependencies name, mapped to the generic module providing them. */
const SOFTDEP_ALIASES: Record<string, string> = { crypto_crc32c: 'crc32c_generic', crypto_crc32: 'crc32_generic' };

/**
 * The load order for `wanted` and everything they need: dependencies first, otherwise in the order
 * asked (stable, so the initramfs is reproducible). A module missing from the index is an error
 * naming who needs it; an unknown soft dependency is skipped (the kernel has it built in or does
 * without).
 */
export async function loadOrder(wanted: readonly string[], index: ReadonlyMap<string, string>, read: (path: string) => Promise<Buffer> = (p) => readFile(p)): Promise<ModuleInfo[]> {
  const order: ModuleInfo[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = async (name: string, neededBy: string | undefined, soft: boolean): Promise<void> => {
    const key = SOFTDEP_ALIASES[moduleKey(name)] ?? moduleKey(name);
    if (done.has(key)) return;
    const path = index.get(key);
    if (!path) {
      if (soft) return;
      throw new ModuleError(`kernel module ${key}${neededBy ? ` (needed by ${neededBy})` : ''} is not in this kernel package`);
    }
    if (visiting.has(key)) throw new ModuleError(`kernel modules depend on each other in a cycle through ${key}`);
    visiting.add(key);
    const info = parseModinfo(await read(path));
    for (const d of info.softPre) await visit(d, key, true);
    for (const d of info.depends) await visit(d, key, false);
    visiting.delete(key);
    done.add(key);
    order.push({ name: key, path, ...info });
  };
  for (const name of wanted) await visit(name, undefined, false);
  return order;
}
