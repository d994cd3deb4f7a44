/**
 * CPU time (user + system) of whole process groups, from /proc: what the relays of one path spend,
 * socat's forked per-connection children included (each bench child leads its own group).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** Milliseconds of CPU used so far by every live process whose process group is one of `pgids`. */
export function groupCpuMs(pgids: readonly number[]): number {
  const groups = new Set(pgids);
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone in between
    }
    // Fields after "(comm) ": state ppid pgrp … utime (14th field overall) stime (15th).
    const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    if (groups.has(Number(f[2]))) ticks += Number(f[11]) + Number(f[12]);
  }
  return (ticks * 1000) / clockTicks();
}
