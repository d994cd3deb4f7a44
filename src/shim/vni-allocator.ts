/**
 * VNIs for pod networks (reference §3.7): VNI = VXLAN_MIN_ID + index, the index the lowest one no
 * live sandbox holds. Upstream's counter restarts at 0 after a restart; here re-adopted sandboxes
 * count as holders, so a restarted daemon never hands out a VNI still in use.
 */

/** VXLAN_MIN_ID's default. */
export const DEFAULT_VXLAN_MIN_ID = 555000;

/** The lowest index not in `used`. */
export function allocateIndex(used: Iterable<number>): number {
  const taken = new Set(used);
  let i = 0;
  while (taken.has(i)) i++;
  return i;
}

/** An index held until `release()`. */
export interface VniLease {
  readonly index: number;
  readonly vni: number;
  release(): void;
}

export class VniAllocator {
  /** Indexes handed out and not yet recorded in a sandbox (a CreateVM still inspecting its namespace). */
  private readonly reserved = new Set<number>();

  /** `held`: the indexes the sandboxes record (read at every `reserve`). */
  constructor(
    private readonly held: () => Iterable<number>,
    private readonly minId: number = DEFAULT_VXLAN_MIN_ID,
  ) {}

  /**
   * The lowest index neither held nor reserved, reserved until the caller has recorded it in its
   * sandbox (or given up) and calls `release()`, so concurrent CreateVMs never share one.
   */
  reserve(): VniLease {
    const index = allocateIndex([...this.held(), ...this.reserved]);
    this.reserved.add(index);
    return { index, vni: this.minId + index, release: () => void this.reserved.delete(index) };
  }

  /** Indexes reserved now (tests, diagnostics). */
  get reservedCount(): number {
    return this.reserved.size;
  }
}
