/**
 * Kubernetes name and label-value rules, for the names and labels this daemon makes up from pod names,
 * node names and sandbox ids (all of which can be longer than a label value allows).
 */
import { randomInt } from 'node:crypto';

/** DNS-1123 subdomain: object names (≤ 253). */
export const MAX_NAME = 253;
/** Label values (≤ 63). */
export const MAX_LABEL_VALUE = 63;

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export function isDnsSubdomain(name: string): boolean {
  return name.length <= MAX_NAME && SUBDOMAIN.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value);
}

/**
 * `value` made a valid label value: characters outside `[A-Za-z0-9-_.]` become `-`, cut to 63, and
 * leading/trailing non-alphanumerics dropped. Deterministic, so a selector built later matches.
 */
export function labelValue(value: string): string {
  return value
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, MAX_LABEL_VALUE)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}

/** A prefix of the DNS subdomain `name` at most `max` long that can be followed by `-…` (ends alphanumeric). */
export function namePrefix(name: string, max: number): string {
  return name.slice(0, max).replace(/[^a-z0-9]+$/, '');
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `n` random characters of `[a-z0-9]` (as apimachinery's `utilrand.String`, which a generateName suffix uses). */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += ALNUM[randomInt(ALNUM.length)];
  return s;
}
