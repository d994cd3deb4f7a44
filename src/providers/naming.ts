/**
 * Instance names and tags, computed here and nowhere else (reference §3.3 step 4, §4.1).
 */
const MAX_NAME = 63;

/** Lower-case; any character outside [a-z0-9-] becomes `-`. */
export function sanitize(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9-]/g, '-');
}

/** `podvm-<pod>-<first 8 of sandbox id>`, the pod part cut so the whole is at most 63 characters. */
export function instanceName(podName: string, sandboxId: string): string {
  const sid = sanitize(sandboxId).slice(0, 8);
  const prefix = 'podvm-';
  const room = MAX_NAME - prefix.length - 1 - sid.length;
  const pod = sanitize(podName).slice(0, Math.max(0, room));
  return `${prefix}${pod}-${sid}`;
}

/**
 * Tag keys set on every instance at creation. Plain words without `/` so that every cloud accepts
 * them (Azure forbids `/` in tag names; IBM tags are `key:value` strings).
 */
export const TagKey = {
  CLUSTER: 'peerpod-cluster',
  NODE: 'peerpod-node',
  SANDBOX: 'peerpod-sandbox',
  POD_NAMESPACE: 'peerpod-pod-namespace',
  POD_NAME: 'peerpod-pod-name',
} as const;

export function instanceTags(ids: {
  clusterName: string;
  nodeName: string;
  sandboxId: string;
  podNamespace: string;
  podName: string;
}): Record<string, string> {
  return {
    [TagKey.CLUSTER]: ids.clusterName,
    [TagKey.NODE]: ids.nodeName,
    [TagKey.SANDBOX]: ids.sandboxId,
    [TagKey.POD_NAMESPACE]: ids.podNamespace,
    [TagKey.POD_NAME]: ids.podName,
  };
}

/** The tags that find every instance of one sandbox. */
export function sandboxTags(ids: { clusterName: string; nodeName: string; sandboxId: string }): Record<string, string> {
  return { [TagKey.CLUSTER]: ids.clusterName, [TagKey.NODE]: ids.nodeName, [TagKey.SANDBOX]: ids.sandboxId };
}
