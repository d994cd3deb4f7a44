/** Reading links and recognising "already gone" answers of `ip`, `tc` and `nsenter`. */
import { messageOf } from '../../util/errors.js';
import { isIPv4 } from 'node:net';
import { CommandError } from '../../util/run-command.js';
import { ipJson, type NetToolOptions } from '../netns/exec.js';
import { VxlanError, VxlanErrorCode } from './errors.js';

export interface LinkInfo {
  ifname: string;
  mtu: number;
  address: string;
  /** `linkinfo.info_kind`, e.g. `vxlan`, `veth`; undefined for a plain device. */
  kind: string | undefined;
  /** The VNI of a VXLAN device. */
  vni: number | undefined;
  /** The `remote` of a VXLAN device. */
  remote: string | undefined;
  up: boolean;
}

interface IpLink {
  ifname?: string;
  mtu?: number;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; remote?: string } };
}

const NO_DEVICE = /does not exist|cannot find device|no such device/i;

/** The link `name` in `opts.netns`, or undefined when there is none. */
export async function getLink(name: string, opts: NetToolOptions): Promise<LinkInfo | undefined> {
  let links: IpLink[];
  try {
    links = await ipJson<IpLink[]>(['-details', 'link', 'show', 'dev', name], opts);
  } catch (err) {
    if (err instanceof CommandError && NO_DEVICE.test(err.stderr)) return undefined;
    throw err;
  }
  const l = Array.isArray(links) ? links.find((x) => x.ifname === name) : undefined;
  if (!l) return undefined;
  return {
    ifname: name,
    mtu: l.mtu ?? 0,
    address: l.address ?? '',
    kind: l.linkinfo?.info_kind,
    vni: l.linkinfo?.info_data?.id,
    remote: l.linkinfo?.info_data?.remote,
    up: l.flags?.includes('UP') ?? false,
  };
}

/**
 * True for the answers that mean "nothing to do": a missing device, qdisc, route or namespace
 * (nsenter could not open the path, or it is a stale mount point that is no namespace any more).
 */
export function isGone(err: unknown): boolean {
  if (!(err instanceof CommandError)) return false;
  return (
    NO_DEVICE.test(err.stderr) ||
    /cannot find specified qdisc|no such process|no such file or directory|reassociate to namespace .* failed: invalid argument/i.test(err.stderr)
  );
}

/** Runs `fn`; an "already gone" failure resolves to false, success to true. */
export async function unlessGone(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

/** Interface names the kernel accepts: 1–15 bytes, no `/`, `:` or white space, not `.`/`..`. */
export function checkIfName(what: string, name: string): void {
  if (!/^[^\s/:]{1,15}$/.test(name) || name === '.' || name === '..' || Buffer.byteLength(name) > 15) {
    throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', `${what} ${JSON.stringify(name)} is not a valid interface name`);
  }
}

export function checkIPv4(what: string, value: string): void {
  if (!isIPv4(value)) throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', `${what} ${JSON.stringify(value)} is not an IPv4 address`);
}

export function checkVni(vni: number): void {
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) {
    throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', `VNI ${vni} is not an integer between 0 and 16777215`);
  }
}

export function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new VxlanError(VxlanErrorCode.INVALID_ARGUMENT, 'validate', `VXLAN port ${port} is not an integer between 1 and 65535`);
  }
}

/** One step of a set-up that can be undone. */
export interface UndoStep {
  what: string;
  run(): Promise<void>;
}

/** Runs undo steps newest first; returns the failures (each already "gone" answer counts as done). */
export async function runUndo(steps: UndoStep[]): Promise<Error[]> {
  const failures: Error[] = [];
  for (const step of steps.reverse()) {
    try {
      await unlessGone(() => step.run());
    } catch (err) {
      failures.push(new Error(`undo ${step.what}: ${messageOf(err)}`, { cause: err }));
    }
  }
  return failures;
}

/** Turns a failure of `step` into a VxlanError (keeps one that already is). */
export function setupFailure(err: unknown, step: string, where: string, undoFailures: Error[], signal?: AbortSignal): VxlanError {
  const undone = undoFailures.length === 0 ? 'what it had done was undone' : `undoing left ${undoFailures.length} problem(s): ${undoFailures.map((e) => e.message).join('; ')}`;
  if (err instanceof VxlanError) {
    return new VxlanError(err.code, err.step, `${err.message} (${undone})`, { cause: err.cause ?? err, otherErrors: undoFailures });
  }
  if (signal?.aborted) {
    return new VxlanError(VxlanErrorCode.CANCELLED, step, `${where}: cancelled at step ${step} (${undone})`, { cause: err, otherErrors: undoFailures });
  }
  return new VxlanError(VxlanErrorCode.VXLAN_SETUP_FAILED, step, `${where}: step ${step} failed: ${messageOf(err)} (${undone})`, {
    cause: err,
    otherErrors: undoFailures,
  });
}
