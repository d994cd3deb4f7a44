/**
 * CPU time (user + system) of other processes, from /proc: one process (`processCpuMs`) or whole
 * process groups (`groupCpuMs`, e.g. a relay and the children it forks per connection).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** /proc counts CPU time in USER_HZ ticks, which Linux fixes at 100 per second for user space. */
const MS_PER_TICK = 1000 / 100;

interface Stat {
  pgrp: number;
  cpuMs: number;
}

/** The fields of a /proc/<pid>/stat line that the benches read. */
function parseStat(line: string): Stat {
  // After "pid (comm) ": state ppid pgrp … utime (the 14th field of the line) stime (the 15th).
  // comm may hold spaces and parentheses, hence the last ") ".
  const f = line.slice(line.lastIndexOf(') ') + 2).split(' ');
  return { pgrp: Number(f[2]), cpuMs: (Number(f[11]) + Number(f[12])) * MS_PER_TICK };
}

/** Milliseconds of CPU that process `pid` has used so far. */
export async function processCpuMs(pid: number): Promise<number> {
  return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8')).cpuMs;
}

/** Milliseconds of CPU used so far by every live process whose process group is one of `pgids`. */
export function groupCpuMs(pgids: readonly number[]): number {
  const groups = new Set(pgids);
  let ms = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: Stat;
    try {
      stat = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
    } catch {
      continue; // gone in between
    }
    if (groups.has(stat.pgrp)) ms += stat.cpuMs;
  }
  return ms;
}
