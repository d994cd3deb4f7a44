/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma = and) and field
 * selectors (`path=value`, `path==value`, `path!=value` on dotted paths such as `spec.nodeName`).
 */
import { StatusError } from './status.js';

type Labels = Readonly<Record<string, string>> | undefined;
type Requirement = (labels: Labels) => boolean;

/** Splits on commas outside parentheses. */
function terms(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

function requirement(term: string): Requirement {
  let m = /^([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) {
    const [, key, op, list] = m;
    const values = new Set(list!.split(',').map((v) => v.trim()));
    return op === 'in' ? (l) => l?.[key!] !== undefined && values.has(l[key!]!) : (l) => l?.[key!] === undefined || !values.has(l[key!]!);
  }
  m = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s!=]*)$/.exec(term);
  if (m) {
    const [, key, op, value] = m;
    return op === '!=' ? (l) => l?.[key!] !== value : (l) => l?.[key!] === value;
  }
  m = /^(!?)([^\s!=()]+)$/.exec(term);
  if (m) {
    const [, not, key] = m;
    return not ? (l) => l?.[key!] === undefined : (l) => l?.[key!] !== undefined;
  }
  throw new StatusError(400, `unable to parse requirement: ${JSON.stringify(term)}`);
}

export function labelSelector(selector: string | null): (labels: Labels) => boolean {
  if (!selector) return () => true;
  const reqs = terms(selector).map(requirement);
  return (labels) => reqs.every((r) => r(labels));
}

function lookup(obj: unknown, path: string): string | undefined {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return String(cur);
}

export function fieldSelector(selector: string | null): (obj: unknown) => boolean {
  if (!selector) return () => true;
  const reqs = terms(selector).map((term) => {
    const m = /^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new StatusError(400, `invalid field selector: ${JSON.stringify(term)}`);
    const [, path, op, value] = m;
    // An absent field compares as the empty string, as the apiserver's field sets do.
    return op === '!=' ? (o: unknown) => (lookup(o, path!) ?? '') !== value : (o: unknown) => (lookup(o, path!) ?? '') === value;
  });
  return (obj) => reqs.every((r) => r(obj));
}
