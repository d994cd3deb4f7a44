/**
 * `/run/peerpod/auth.json` (reference §3.10): the registry credentials of a pod's image-pull
 * secrets, for the confidential data hub in the VM (`CDH_DEFAULT_IMAGE_AUTHENTICATED_REGISTRY_CREDENTIALS`).
 * Output: `{"auths":{"<registry>":{"auth":"<base64 user:pass>"}}}` — nothing but `auth` per registry.
 */
import { decodeStdBase64, encodeStdBase64 } from './base64.js';

/** Upstream writes auth.json only when it is at most this many bytes. */
export const AUTH_JSON_LIMIT = 12288;

/** An image-pull Secret as the Kubernetes API returns it: `data` values are base64. */
export interface PullSecret {
  /** For messages only. */
  name?: string;
  /** `.dockerconfigjson` (`{"auths":{…}}`) and/or `.dockercfg` (`{"<registry>":{…}}`), base64-encoded. */
  data?: Readonly<Record<string, string>>;
}

export type AuthJsonResult =
  /** `json` is compact, registries sorted (as Go's `json.Marshal` of a map), no trailing newline. */
  | { json: string; registries: string[]; warnings: string[] }
  | { skipped: string; code: 'NO_CREDENTIALS' | 'TOO_LARGE'; warnings: string[] };

const DOCKER_CONFIG_JSON = '.dockerconfigjson';
const DOCKER_CFG = '.dockercfg';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The `auth` of one registry entry: its own `auth`, else base64 of `username:password`, else undefined. */
function entryAuth(entry: unknown): string | undefined {
  if (!isObject(entry)) return undefined;
  const { auth, username, password } = entry;
  if (typeof auth === 'string' && auth !== '') return auth;
  const user = typeof username === 'string' ? username : '';
  const pass = typeof password === 'string' ? password : '';
  if (user === '' && pass === '') return undefined;
  return encodeStdBase64(`${user}:${pass}`);
}

/** The registry map of one data key, or a reason it cannot be read. */
function registries(key: string, b64: string): Record<string, unknown> | string {
  const bytes = decodeStdBase64(b64);
  if (bytes === undefined) return `${key} is not base64`;
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    return `${key} is not JSON`;
  }
  if (key === DOCKER_CONFIG_JSON) {
    if (!isObject(doc) || !isObject(doc.auths)) return `${key} has no "auths" object`;
    return doc.auths;
  }
  if (!isObject(doc)) return `${key} is not a JSON object`;
  return doc;
}

/**
 * Merges the credentials of `secrets` in the order given (upstream: the service account's secrets
 * first, then the pod's): for a registry named by several secrets the first one wins. A secret that
 * cannot be read, or a registry entry without credentials, is skipped with a warning (a bad secret
 * must not stop the pod; the pull then fails in the VM, as it would on a node).
 * Returns `{ skipped }` when nothing is left or the JSON exceeds `AUTH_JSON_LIMIT` bytes.
 */
export function buildAuthJson(secrets: readonly PullSecret[]): AuthJsonResult {
  const auths = new Map<string, string>();
  const warnings: string[] = [];
  secrets.forEach((secret, i) => {
    const label = `secret ${secret.name ?? `#${i}`}`;
    const data = secret.data ?? {};
    const keys = [DOCKER_CONFIG_JSON, DOCKER_CFG].filter((k) => data[k] !== undefined);
    if (keys.length === 0) {
      warnings.push(`${label}: no ${DOCKER_CONFIG_JSON} or ${DOCKER_CFG}`);
      return;
    }
    for (const key of keys) {
      const regs = registries(key, data[key] ?? '');
      if (typeof regs === 'string') {
        warnings.push(`${label}: ${regs}`);
        continue;
      }
      for (const [registry, entry] of Object.entries(regs)) {
        if (auths.has(registry)) continue;
        const auth = entryAuth(entry);
        if (auth === undefined) warnings.push(`${label}: registry ${registry} has no auth, username or password`);
        else auths.set(registry, auth);
      }
    }
  });
  if (auths.size === 0) return { skipped: 'no registry credentials', code: 'NO_CREDENTIALS', warnings };
  const names = [...auths.keys()].sort();
  const doc = { auths: Object.fromEntries(names.map((r) => [r, { auth: auths.get(r) }])) };
  const json = JSON.stringify(doc);
  const size = Buffer.byteLength(json);
  if (size > AUTH_JSON_LIMIT) {
    return { skipped: `auth.json would be ${size} bytes, over the ${AUTH_JSON_LIMIT}-byte limit`, code: 'TOO_LARGE', warnings };
  }
  return { json, registries: names, warnings };
}
