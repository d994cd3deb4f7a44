/**
 * The NOTRACK rules of the VXLAN underlay (reference §3.7, Go `tunneler/vxlan/iptables.go`): in the
 * raw table, chains `peerpod-OUTPUT` (jumped from `OUTPUT`) and `peerpod-PREROUTING` (jumped from
 * `PREROUTING`) hold one rule per tunnel so the UDP packets to and from the other end bypass
 * conntrack (Calico and friends otherwise interfere). Both ends use the same rules: the worker with
 * the VM's IP, the VM with the worker's.
 *
 * Every change runs under one in-process lock: concurrent set-ups and tear-downs must not race on
 * "create the chain if missing" and "remove the chain when empty".
 */
import { CommandError } from '../../util/run-command.js';
import { iptables, type NetToolOptions } from '../netns/exec.js';

export const OUTPUT_CHAIN = 'peerpod-OUTPUT';
export const PREROUTING_CHAIN = 'peerpod-PREROUTING';

export interface NotrackRule {
  /** The built-in chain that jumps to `chain`. */
  base: 'OUTPUT' | 'PREROUTING';
  chain: typeof OUTPUT_CHAIN | typeof PREROUTING_CHAIN;
  /** Match and target, as given to `iptables -A <chain>`. */
  spec: string[];
}

/** The two rules of one tunnel whose other end is `remoteIp`. */
export function notrackRules(remoteIp: string, port: number, vni: number): NotrackRule[] {
  const comment = ['-m', 'comment', '--comment', `peerpod [vni:${vni}]`];
  const udp = ['-p', 'udp', '-m', 'udp', '--dport', String(port), '-j', 'NOTRACK'];
  return [
    { base: 'OUTPUT', chain: OUTPUT_CHAIN, spec: [...comment, '-d', remoteIp, ...udp] },
    { base: 'PREROUTING', chain: PREROUTING_CHAIN, spec: [...comment, '-s', remoteIp, ...udp] },
  ];
}

export function describeRule(rule: NotrackRule): string {
  return `iptables -t raw -A ${rule.chain} ${rule.spec.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;
}

let lockTail: Promise<void> = Promise.resolve();

/** Runs `fn` when every earlier caller's `fn` has settled (a FIFO async mutex for this process). */
export async function withIptablesLock<T>(fn: () => Promise<T>): Promise<T> {
  const previous = lockTail;
  let release!: () => void;
  lockTail = new Promise<void>((resolve) => (release = resolve));
  try {
    await previous;
    return await fn();
  } finally {
    release();
  }
}

const raw = (args: readonly string[], opts: NetToolOptions): Promise<string> => iptables(['-t', 'raw', ...args], opts);

/** `iptables -C` answers with exit status 1 when the rule (or its chain) is absent. */
async function check(args: readonly string[], opts: NetToolOptions): Promise<boolean> {
  try {
    await raw(['-C', ...args], opts);
    return true;
  } catch (err) {
    if (err instanceof CommandError && err.exitCode === 1) return false;
    throw err;
  }
}

/** `-S` of the raw table: lines such as `-N peerpod-OUTPUT` and `-A OUTPUT -j peerpod-OUTPUT`. */
async function listRaw(opts: NetToolOptions): Promise<string[]> {
  return (await raw(['-S'], opts)).split('\n').map((l) => l.trim());
}

function chainExists(lines: readonly string[], chain: string): boolean {
  return lines.includes(`-N ${chain}`);
}

function rulesIn(lines: readonly string[], chain: string): string[] {
  return lines.filter((l) => l.startsWith(`-A ${chain} `));
}

/** What `addNotrackRules` changed, so a failed set-up can undo exactly that. */
export interface NotrackChanges {
  /** Rules this call appended (a rule already present is left out). */
  rulesAdded: NotrackRule[];
  chainsCreated: string[];
}

/**
 * Creates the chains and jumps when missing and appends both rules unless present. On failure,
 * undoes what it did itself and rethrows.
 */
export function addNotrackRules(remoteIp: string, port: number, vni: number, opts: NetToolOptions): Promise<NotrackChanges> {
  return withIptablesLock(async () => {
    const changes: NotrackChanges = { rulesAdded: [], chainsCreated: [] };
    try {
      let lines = await listRaw(opts);
      for (const rule of notrackRules(remoteIp, port, vni)) {
        if (!chainExists(lines, rule.chain)) {
          await raw(['-N', rule.chain], opts);
          changes.chainsCreated.push(rule.chain);
          lines = [...lines, `-N ${rule.chain}`];
        }
        if (!(await check([rule.base, '-j', rule.chain], opts))) await raw(['-A', rule.base, '-j', rule.chain], opts);
        if (!(await check([rule.chain, ...rule.spec], opts))) {
          await raw(['-A', rule.chain, ...rule.spec], opts);
          changes.rulesAdded.push(rule);
        }
      }
      return changes;
    } catch (err) {
      // Best effort: the caller reports `err`; whatever stays behind a later tear-down removes.
      await deleteRulesLocked(changes.rulesAdded, opts).catch(() => undefined);
      throw err;
    }
  });
}

/**
 * Deletes `rules` (every copy), then each of the two chains that is left empty together with the
 * jumps to it. Absent rules and chains are fine. Returns what it removed, for logs and tests.
 */
export function deleteNotrackRules(rules: readonly NotrackRule[], opts: NetToolOptions): Promise<string[]> {
  return withIptablesLock(() => deleteRulesLocked(rules, opts));
}

async function deleteRulesLocked(rules: readonly NotrackRule[], opts: NetToolOptions): Promise<string[]> {
  const removed: string[] = [];
  let lines = await listRaw(opts);
  for (const rule of rules) {
    if (!chainExists(lines, rule.chain)) continue;
    // A rule appended twice by hand would survive a single -D; at most a few rounds.
    for (let i = 0; i < 16 && (await check([rule.chain, ...rule.spec], opts)); i++) {
      await raw(['-D', rule.chain, ...rule.spec], opts);
      removed.push(describeRule(rule));
    }
  }
  lines = await listRaw(opts);
  for (const { base, chain } of [
    { base: 'OUTPUT', chain: OUTPUT_CHAIN },
    { base: 'PREROUTING', chain: PREROUTING_CHAIN },
  ]) {
    if (!chainExists(lines, chain) || rulesIn(lines, chain).length > 0) continue;
    for (let i = 0; i < 16 && (await check([base, '-j', chain], opts)); i++) {
      await raw(['-D', base, '-j', chain], opts);
      removed.push(`iptables -t raw -A ${base} -j ${chain}`);
    }
    await raw(['-X', chain], opts);
    removed.push(`iptables -t raw -N ${chain}`);
  }
  return removed;
}

/** Splits one `iptables -S` line into arguments (double-quoted comments stay one argument). */
export function splitRuleLine(line: string): string[] {
  const args: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)) {
    args.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''));
  }
  return args;
}

/**
 * Deletes every rule of the two chains whose comment names `vni`, whatever its address and port
 * (for a tear-down that no longer knows the other end's address), then prunes empty chains.
 */
export function deleteNotrackRulesForVni(vni: number, opts: NetToolOptions): Promise<string[]> {
  return withIptablesLock(async () => {
    const marker = `--comment "peerpod [vni:${vni}]"`;
    const rules: NotrackRule[] = [];
    for (const line of await listRaw(opts)) {
      if (!line.includes(marker)) continue;
      const [op, chain, ...spec] = splitRuleLine(line);
      if (op !== '-A') continue;
      if (chain === OUTPUT_CHAIN) rules.push({ base: 'OUTPUT', chain, spec });
      else if (chain === PREROUTING_CHAIN) rules.push({ base: 'PREROUTING', chain, spec });
    }
    return deleteRulesLocked(rules, opts);
  });
}
