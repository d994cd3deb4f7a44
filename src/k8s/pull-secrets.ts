/**
 * A pod's registry credentials (reference §3.10): the image-pull Secrets of its service account and of
 * the pod itself, merged into the VM's `/run/peerpod/auth.json` by `buildAuthJson`.
 */
import type { ConfigurationOptions, V1LocalObjectReference } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { buildAuthJson, type PullSecret } from '../podvm/auth-json.js';
import { kubeCall, withRetries } from './call.js';
import type { KubeApis, KubeCallTuning } from './clients.js';
import { isKubeError } from './errors.js';

export interface PullSecretReaderOptions extends KubeCallTuning {
  logger: Logger;
}

const names = (refs: V1LocalObjectReference[] | undefined): string[] => (refs ?? []).map((r) => r.name ?? '').filter((n) => n !== '');

export class PullSecretReader {
  private readonly log: Logger;

  constructor(
    private readonly apis: KubeApis,
    private readonly options: PullSecretReaderOptions,
  ) {
    this.log = options.logger.child({ component: 'k8s/pull-secrets' });
  }

  /**
   * The auth.json for pod `namespace/name`, or undefined when there is none to give: the pod is gone,
   * no secret names credentials, or the result is over 12 KiB (each logged). Secrets are read in
   * upstream's order, the service account's (default `default`) first, then the pod's; for a registry
   * named twice the first wins. A missing pod, service account or Secret is skipped, not an error.
   * Rejects with KubeError when the API refuses or cannot be reached (FORBIDDEN, UNAVAILABLE, CANCELLED):
   * the caller decides whether the VM goes without credentials.
   */
  async authJson(pod: { name: string; namespace: string }, signal?: AbortSignal): Promise<string | undefined> {
    const { name, namespace } = pod;
    const log = this.log.child({ pod: `${namespace}/${name}` });
    const v1Pod = await this.get(`get pod ${namespace}/${name}`, signal, (o) => this.apis.core.readNamespacedPod({ name, namespace }, o));
    if (!v1Pod) {
      log.info('pod not found: no auth.json');
      return undefined;
    }
    const saName = v1Pod.spec?.serviceAccountName || 'default';
    const sa = await this.get(`get serviceaccount ${namespace}/${saName}`, signal, (o) => this.apis.core.readNamespacedServiceAccount({ name: saName, namespace }, o));
    if (!sa) log.debug({ serviceAccount: saName }, `service account ${saName} not found: only the pod's own pull secrets`);
    const secretNames = [...new Set([...names(sa?.imagePullSecrets), ...names(v1Pod.spec?.imagePullSecrets)])];
    if (secretNames.length === 0) {
      log.debug('no image pull secrets: no auth.json');
      return undefined;
    }
    const secrets: PullSecret[] = [];
    for (const secretName of secretNames) {
      const secret = await this.get(`get secret ${namespace}/${secretName}`, signal, (o) => this.apis.core.readNamespacedSecret({ name: secretName, namespace }, o));
      if (!secret) {
        log.info({ secret: secretName }, `image pull secret ${namespace}/${secretName} not found: skipped`);
        continue;
      }
      secrets.push({ name: secretName, data: secret.data ?? {} });
    }
    const result = buildAuthJson(secrets);
    for (const w of result.warnings) log.warn(`image pull secrets: ${w}`);
    if ('skipped' in result) {
      log.info({ code: result.code }, `no auth.json: ${result.skipped}`);
      return undefined;
    }
    log.info({ registries: result.registries }, `auth.json for ${result.registries.length} registr${result.registries.length === 1 ? 'y' : 'ies'}`);
    return result.json;
  }

  /** The object, or undefined when it does not exist. */
  private async get<T>(what: string, signal: AbortSignal | undefined, fn: (options: ConfigurationOptions) => Promise<T>): Promise<T | undefined> {
    try {
      return await withRetries(what, signal, this.log, () => kubeCall(what, signal, fn, { timeoutMs: this.options.callTimeoutMs }), this.options.retry);
    } catch (err) {
      if (isKubeError(err, 'NOT_FOUND')) return undefined;
      throw err;
    }
  }
}
