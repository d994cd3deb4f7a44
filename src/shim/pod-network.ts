/** VNI indexes of the pod network (the PodNetwork port itself is in src/shim/ports.ts). */

/** The lowest index not in use; VNI = VXLAN_MIN_ID + index (upstream's counter restarts at 0 after a restart). */
export function allocateIndex(used: Iterable<number>): number {
  const taken = new Set(used);
  let i = 0;
  while (taken.has(i)) i++;
  return i;
}
