/**
 * The Kubernetes API calls the daemon makes, one row each: the ClusterRole in deploy/base/rbac.yaml
 * grants exactly these (test/deploy/rbac.test.ts), docs/deploy.md lists them, and the fake
 * kube-apiserver's `rbac` mode refuses anything else (test/fakes/kube), so the k8s tests prove the code
 * stays inside the manifest.
 */
export interface ApiCall {
  verb: string;
  /** '' is the core group. */
  group: string;
  resource: string;
  why: string;
}

/** One row per API call the daemon makes (the Kubernetes integration is planned to exactly this list). */
export const API_CALLS: readonly ApiCall[] = [
  { verb: 'get', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'read a PeerPod before changing it' },
  { verb: 'list', group: 'confidentialcontainers.org', resource: 'peerpods', why: "find this node's PeerPods after a restart" },
  { verb: 'watch', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'follow PeerPod deletions' },
  { verb: 'create', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'record each VM created, owned by its pod' },
  { verb: 'patch', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'drop the finalizer once the VM is deleted' },
  { verb: 'update', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'set the instance id on an existing PeerPod' },
  { verb: 'delete', group: 'confidentialcontainers.org', resource: 'peerpods', why: 'remove a PeerPod whose VM is gone' },
  { verb: 'get', group: '', resource: 'pods', why: 'owner lookup: the pod a PeerPod belongs to' },
  { verb: 'list', group: '', resource: 'pods', why: "startup probe: this node's kata-remote pods" },
  { verb: 'watch', group: '', resource: 'pods', why: 'startup probe: wait for those pods to be Ready' },
  { verb: 'update', group: '', resource: 'pods/finalizers', why: "a PeerPod's owner reference to its pod blocks the pod's deletion (OwnerReferencesPermissionEnforcement, e.g. OpenShift)" },
  { verb: 'create', group: '', resource: 'events', why: 'events about VM creation and deletion (core API)' },
  { verb: 'patch', group: '', resource: 'events', why: 'count repeated events (core API)' },
  { verb: 'create', group: 'events.k8s.io', resource: 'events', why: 'events about VM creation and deletion (events API)' },
  { verb: 'patch', group: 'events.k8s.io', resource: 'events', why: 'count repeated events (events API)' },
  { verb: 'get', group: '', resource: 'nodes', why: "read this node's kata.peerpods.io/vm capacity" },
  { verb: 'patch', group: '', resource: 'nodes', why: 'capacity fallback when the status subresource is refused' },
  { verb: 'patch', group: '', resource: 'nodes/status', why: 'advertise kata.peerpods.io/vm = PEERPODS_LIMIT_PER_NODE' },
  { verb: 'get', group: '', resource: 'secrets', why: "image-pull secrets of a pod → the VM's auth.json" },
  { verb: 'get', group: '', resource: 'serviceaccounts', why: "the pod's service account, for its image-pull secrets" },
];

/** `verb group/resource`, the core group written `core`. */
export const apiCallKey = (c: { verb: string; group: string; resource: string }): string => `${c.verb} ${c.group || 'core'}/${c.resource}`;

/** Whether the table grants `verb` on `group`/`resource` (a subresource is written `pods/status`). */
export function isAllowedCall(verb: string, group: string, resource: string, table: readonly ApiCall[] = API_CALLS): boolean {
  return table.some((c) => c.verb === verb && c.group === group && c.resource === resource);
}
