/**
 * Fake kube-apiserver for tests (there is no real one on these machines).
 *
 *   const fake = await FakeKubeApiServer.start({ rbac: true });
 *   const kc = fake.kubeConfig();                // client-node KubeConfig pointed at it
 *   fake.addPod({ name: 'p', namespace: 'ns', nodeName: 'node-a', runtimeClassName: 'kata-remote' });
 *   …
 *   await fake.close();
 *
 * Serves pods (get, list, watch), serviceaccounts, secrets, events, nodes (+ `status`), and
 * confidentialcontainers.org/v1alpha1 peerpods (+ `status`), each with get / list / watch / create /
 * update / patch / delete, under the usual paths (`/api/v1/namespaces/<ns>/pods/<name>`,
 * `/api/v1/pods` across namespaces, `/apis/<group>/<version>/...`). Behaviour worth knowing:
 * - Metadata: uid, resourceVersion (one counter for the store), creationTimestamp, generation,
 *   generateName (5 random characters). Names must be DNS subdomains and labels valid (else 422
 *   Invalid, as the apiserver). Events must name an involvedObject in their own namespace.
 * - Lists take `labelSelector` (=, ==, !=, exists, !exists, in, notin), `fieldSelector` (dotted paths,
 *   =, ==, !=), `limit` and `continue`. `?watch=1` streams JSON lines `{type, object}`: the current
 *   objects as ADDED (or, with `resourceVersion`, the changes since), then changes; `timeoutSeconds` ends it.
 * - PATCH takes `application/json-patch+json` (RFC 6902; a failed `test` or a missing path is 422),
 *   `application/merge-patch+json` and strategic merge (applied as a merge patch — fake); anything else
 *   is 415. A changed `metadata.resourceVersion` in the result is a precondition: 409 Conflict.
 * - `status` is a subresource of pods, nodes and peerpods: writes to the main resource keep the old
 *   status and writes to `/status` change only the status. POST drops the status (seeds keep it).
 * - Finalizers: DELETE of an object with finalizers only sets deletionTimestamp; once a write leaves
 *   a deleting object without finalizers it is removed; no new finalizer may be added while deleting.
 *   Pods are removed at once (fake: no graceful termination, no kubelet).
 * - `gc()` is the garbage collector, run on demand: objects whose every owner (by uid) is gone are
 *   deleted, honouring finalizers, to a fixed point.
 * - Errors are `Status` documents (404 NotFound, 409 AlreadyExists / Conflict, 403 Forbidden, 422 Invalid…).
 * - `rbac: true` answers 403 for any call not in test/deploy/rbac-table.ts (the daemon's ClusterRole),
 *   and, as OwnerReferencesPermissionEnforcement, refuses a create that sets blockOwnerDeletion on an
 *   owner whose `finalizers` the table does not let us update.
 * - `inject({ method, pathPrefix, status, times, rate, delayMs, afterEffect })`: faults before RBAC and
 *   handling (or, with `afterEffect`, after the write: a lost reply).
 * - `requests` logs every request (method, path, query, content type, body, status, RBAC verb/resource).
 */
export { FAKE_USER, FakeKubeApiServer, type FakeKubeOptions, type FaultRule, type RequestRecord } from './server.js';
export { ObjectStore, kubeNow, type StoreEvent, type WatchEventType } from './store.js';
export { RESOURCES, resourceByPlural, type KubeObject, type ObjectMeta, type OwnerReference, type ResourceType } from './resources.js';
export { StatusError } from './status.js';
