/**
 * The webhook's options (`cloud-api-adaptor webhook`). Environment names are upstream peer-pods-webhook's
 * where it has them (TARGET_RUNTIMECLASS, POD_VM_EXTENDED_RESOURCE); the server's own are WEBHOOK_*.
 */
import { z, type ZodType } from 'zod';
import { absolutePath, int, oneOf, option, resolveOptions, str, type OptionTable, type RawSources, type Resolved } from '../config/options.js';
import { DEFAULT_POD_VM_EXTENDED_RESOURCE, DEFAULT_TARGET_RUNTIMECLASS } from './mutate.js';

/** A RuntimeClass name is a DNS subdomain. */
const dnsSubdomain = (): ZodType<string, string> =>
  z
    .string()
    .refine(
      (v) => v.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(v),
      'expected a RuntimeClass name (lower-case DNS subdomain, e.g. kata-remote)',
    );

/** An extended resource is `<domain>/<name>` outside kubernetes.io. */
const extendedResourceName = (): ZodType<string, string> =>
  z
    .string()
    .refine(
      (v) => /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v) && !/(^|\.)kubernetes\.io\//.test(v),
      'expected an extended resource name such as kata.peerpods.io/vm (a domain outside kubernetes.io, a slash, a name)',
    );

export const webhookOptions = {
  targetRuntimeClass: option({
    flag: 'target-runtimeclass',
    env: ['TARGET_RUNTIMECLASS'],
    default: DEFAULT_TARGET_RUNTIMECLASS,
    schema: dnsSubdomain(),
    description: 'pods of this RuntimeClass are mutated; all others pass untouched',
  }),
  podVmExtendedResource: option({
    flag: 'pod-vm-extended-resource',
    env: ['POD_VM_EXTENDED_RESOURCE'],
    default: DEFAULT_POD_VM_EXTENDED_RESOURCE,
    schema: extendedResourceName(),
    description: "extended resource a peer pod's first container requests once (the per-node VM limit)",
  }),
  port: option({ flag: 'webhook-port', env: ['WEBHOOK_PORT'], default: '8443', schema: int(0, 65535), description: 'HTTPS port (0: any free port)' }),
  host: option({ flag: 'webhook-host', env: ['WEBHOOK_HOST'], default: '', schema: str(), description: 'address to listen on ("" = every interface)' }),
  certFile: option({
    flag: 'webhook-cert-file',
    env: ['WEBHOOK_CERT_FILE'],
    default: '/etc/webhook/certs/tls.crt',
    schema: absolutePath(),
    description: 'serving certificate (PEM); re-read when it changes',
  }),
  keyFile: option({
    flag: 'webhook-key-file',
    env: ['WEBHOOK_KEY_FILE'],
    default: '/etc/webhook/certs/tls.key',
    schema: absolutePath(),
    description: 'key of the serving certificate (PEM); re-read when it changes',
  }),
  logLevel: option({ flag: 'log-level', env: ['LOG_LEVEL'], default: 'info', schema: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']), description: 'log level' }),
};

export type WebhookConfig = Resolved<typeof webhookOptions>;

/** Throws ConfigError naming every bad key. */
export function loadWebhookConfig(sources: RawSources): WebhookConfig {
  return resolveOptions(webhookOptions, sources);
}

/**
 * commander gives options in camelCase (`webhookPort`); the option tables are keyed by flag name.
 * Keeps only the flags of `table` that were given.
 */
export function flagsByName(table: OptionTable, opts: Record<string, unknown>): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (const spec of Object.values(table)) {
    const v = opts[spec.flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (typeof v === 'string' || typeof v === 'boolean') out[spec.flag] = v;
  }
  return out;
}
