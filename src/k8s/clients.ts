/**
 * The client-node API objects the integration uses, built once from a KubeConfig and shared (each
 * holds only configuration; calls may run concurrently).
 */
import { CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { RetryOptions } from './call.js';

export interface KubeApis {
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

export function makeKubeApis(kubeConfig: KubeConfig): KubeApis {
  return { core: kubeConfig.makeApiClient(CoreV1Api), custom: kubeConfig.makeApiClient(CustomObjectsApi) };
}

/** Knobs every module of src/k8s takes (tests shorten them). */
export interface KubeCallTuning {
  /** Bound on one HTTP exchange (default 30 s). */
  callTimeoutMs?: number;
  /** Retries of conflicts, throttling and 5xx (default 4 attempts, 200 ms doubling to 5 s). */
  retry?: RetryOptions;
}
