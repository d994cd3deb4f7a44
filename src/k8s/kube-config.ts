/**
 * Where the Kubernetes API is: in-cluster (the DaemonSet's service-account token), else the file(s) in
 * `KUBECONFIG` (a daemon run by hand against a cluster), else nowhere — then the daemon still serves the
 * shim, without PeerPod objects, events, pull secrets or node capacity.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeError } from './errors.js';
import { messageOf } from '../util/errors.js';

/** Where the kubelet mounts the pod's service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadKubeConfigOptions {
  /** Tests point this at a temporary directory holding `token` and `ca.crt`. */
  serviceAccountDir?: string;
}

export type KubeEnv = Readonly<Record<string, string | undefined>>;

/**
 * In a pod (`KUBERNETES_SERVICE_HOST`/`_PORT` set and a token file present): https to the service
 * address with the mounted CA, and the token re-read from its file (the kubelet rotates it; client-node
 * re-reads it every minute). Otherwise `KUBECONFIG` (several files joined by `:` merge, the first
 * definition of a name winning, as kubectl). Otherwise undefined, with one info line.
 * Throws `KubeError` CONFIG when `KUBECONFIG` names a file that cannot be loaded: an operator who set
 * it wants it used, not silently ignored.
 */
export function loadKubeConfig(env: KubeEnv, logger: Logger, options: LoadKubeConfigOptions = {}): KubeConfig | undefined {
  const log = logger.child({ component: 'k8s' });
  const inCluster = inClusterConfig(env, options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR, log);
  if (inCluster) return inCluster;
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter((f) => f !== '');
  if (files.length > 0) return fromFiles(files, log);
  log.info('no Kubernetes API: PeerPod objects, events, pull secrets and node capacity are off');
  return undefined;
}

function inClusterConfig(env: KubeEnv, dir: string, log: Logger): KubeConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const tokenFile = join(dir, 'token');
  if (!existsSync(tokenFile)) {
    // A pod with automountServiceAccountToken: false, or a container that is not in Kubernetes at all.
    log.warn({ tokenFile }, 'KUBERNETES_SERVICE_HOST is set but there is no service-account token: not using the in-cluster API');
    return undefined;
  }
  const caFile = join(dir, 'ca.crt');
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    { name: 'in-cluster', server, skipTLSVerify: false, ...(existsSync(caFile) ? { caFile } : {}) },
    { name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } },
  );
  const nsFile = join(dir, 'namespace');
  if (existsSync(nsFile)) {
    const ctx = kc.getContextObject(kc.getCurrentContext());
    if (ctx) kc.contexts = [{ ...ctx, namespace: readFileSync(nsFile, 'utf8').trim() }];
  }
  if (!existsSync(caFile)) log.warn({ caFile }, 'in-cluster API without the service-account CA: TLS to the apiserver will fail');
  log.info({ server }, 'Kubernetes API: in-cluster service account');
  return kc;
}

function fromFiles(files: string[], log: Logger): KubeConfig {
  const kc = new KubeConfig();
  files.forEach((file, i) => {
    const one = new KubeConfig();
    try {
      one.loadFromFile(file);
    } catch (err) {
      throw new KubeError('CONFIG', `KUBECONFIG file ${file}: ${messageOf(err)}`, { cause: err });
    }
    if (i === 0) {
      kc.loadFromOptions({ clusters: one.clusters, users: one.users, contexts: one.contexts, currentContext: one.currentContext });
      return;
    }
    for (const c of one.clusters) if (!kc.getCluster(c.name)) kc.clusters.push(c);
    for (const u of one.users) if (!kc.getUser(u.name)) kc.users.push(u);
    for (const c of one.contexts) if (!kc.getContextObject(c.name)) kc.contexts.push(c);
    if (!kc.currentContext) kc.currentContext = one.currentContext;
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeError('CONFIG', `KUBECONFIG ${files.join(delimiter)}: no current context with a cluster`);
  log.info({ server: cluster.server, context: kc.getCurrentContext(), kubeconfig: files.join(delimiter) }, 'Kubernetes API: kubeconfig');
  return kc;
}
