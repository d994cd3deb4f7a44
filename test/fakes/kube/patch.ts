/**
 * RFC 6902 JSON patch and RFC 7386 merge patch over plain JSON documents. A JSON patch that cannot be
 * applied (a failed `test`, a missing path) is a 422, as the apiserver answers it.
 */
import { isDeepStrictEqual } from 'node:util';
import { StatusError } from './status.js';

type Json = unknown;
type Container = Record<string, Json> | Json[];

const clone = <T>(v: T): T => structuredClone(v);

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new StatusError(422, `invalid JSON pointer ${JSON.stringify(pointer)}`, 'Invalid');
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

const fail = (why: string): StatusError => new StatusError(422, why, 'Invalid');

/** The container holding the last token, and that token. */
function parent(doc: Json, pointer: string): { container: Container; key: string } {
  const ts = tokens(pointer);
  if (ts.length === 0) throw fail('the root cannot be patched this way');
  let cur = doc;
  for (const t of ts.slice(0, -1)) {
    if (Array.isArray(cur)) {
      const i = Number(t);
      if (!/^\d+$/.test(t) || i >= cur.length) throw fail(`doc is missing path: ${pointer}`);
      cur = cur[i];
    } else if (typeof cur === 'object' && cur !== null && t in cur) {
      cur = (cur as Record<string, Json>)[t];
    } else throw fail(`doc is missing path: ${pointer}`);
  }
  if (typeof cur !== 'object' || cur === null) throw fail(`doc is missing path: ${pointer}`);
  return { container: cur as Container, key: ts[ts.length - 1]! };
}

function get(doc: Json, pointer: string): Json {
  if (pointer === '') return doc;
  const { container, key } = parent(doc, pointer);
  if (Array.isArray(container)) {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= container.length) throw fail(`doc is missing path: ${pointer}`);
    return container[i];
  }
  if (!(key in container)) throw fail(`doc is missing path: ${pointer}`);
  return container[key];
}

function add(doc: Json, pointer: string, value: Json): void {
  const { container, key } = parent(doc, pointer);
  if (Array.isArray(container)) {
    const i = key === '-' ? container.length : Number(key);
    if ((key !== '-' && !/^\d+$/.test(key)) || i > container.length) throw fail(`index out of range: ${pointer}`);
    container.splice(i, 0, value);
  } else container[key] = value;
}

function remove(doc: Json, pointer: string): Json {
  const { container, key } = parent(doc, pointer);
  if (Array.isArray(container)) {
    const i = Number(key);
    if (!/^\d+$/.test(key) || i >= container.length) throw fail(`unable to remove nonexistent key: ${pointer}`);
    return container.splice(i, 1)[0];
  }
  if (!(key in container)) throw fail(`unable to remove nonexistent key: ${key}: missing value`);
  const old = container[key];
  delete container[key];
  return old;
}

export interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

export function applyJsonPatch(doc: Json, patch: unknown): Json {
  if (!Array.isArray(patch)) throw new StatusError(400, 'json patch must be an array of operations', 'BadRequest');
  const out = clone(doc);
  for (const raw of patch as JsonPatchOp[]) {
    if (typeof raw !== 'object' || raw === null || typeof raw.path !== 'string') throw new StatusError(400, 'malformed json patch operation', 'BadRequest');
    switch (raw.op) {
      case 'add':
        add(out, raw.path, clone(raw.value));
        break;
      case 'remove':
        remove(out, raw.path);
        break;
      case 'replace':
        remove(out, raw.path);
        add(out, raw.path, clone(raw.value));
        break;
      case 'test':
        if (!isDeepStrictEqual(get(out, raw.path), raw.value)) throw fail(`testing value ${raw.path} failed: test failed`);
        break;
      case 'move':
        add(out, raw.path, remove(out, raw.from ?? ''));
        break;
      case 'copy':
        add(out, raw.path, clone(get(out, raw.from ?? '')));
        break;
      default:
        throw new StatusError(400, `unexpected json patch op ${JSON.stringify(raw.op)}`, 'BadRequest');
    }
  }
  return out;
}

export function applyMergePatch(doc: Json, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const base = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? clone(doc as Record<string, Json>) : {};
  for (const [k, v] of Object.entries(patch as Record<string, Json>)) {
    if (v === null) delete base[k];
    else base[k] = applyMergePatch(base[k], v);
  }
  return base;
}
