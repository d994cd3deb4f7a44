/**
 * Applies an RFC 6902 patch (add, replace, remove) to a copy of a document, as the API server applies the
 * webhook's answer. Enough for the tests: no move/copy/test.
 */
export interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`bad JSON pointer ${pointer}`);
  return pointer.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

export function applyPatch<T>(doc: T, patch: readonly PatchOp[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of patch) {
    const path = tokens(op.path);
    const last = path.pop();
    if (last === undefined) throw new Error('patching the root is not supported');
    let parent = root as Record<string, unknown> | unknown[];
    for (const t of path) {
      const next = Array.isArray(parent) ? parent[Number(t)] : parent[t];
      if (typeof next !== 'object' || next === null) throw new Error(`${op.op} ${op.path}: ${t} does not exist`);
      parent = next as Record<string, unknown> | unknown[];
    }
    if (Array.isArray(parent)) {
      const i = last === '-' ? parent.length : Number(last);
      if (op.op === 'add') parent.splice(i, 0, op.value);
      else if (op.op === 'replace') parent[i] = op.value;
      else if (op.op === 'remove') parent.splice(i, 1);
      else throw new Error(`unsupported op ${op.op}`);
    } else {
      if ((op.op === 'replace' || op.op === 'remove') && !(last in parent)) throw new Error(`${op.op} ${op.path}: no such member`);
      if (op.op === 'add' || op.op === 'replace') parent[last] = op.value;
      else if (op.op === 'remove') delete parent[last];
      else throw new Error(`unsupported op ${op.op}`);
    }
  }
  return root as T;
}

/** The patch carried by an AdmissionReview response (base64 JSON). */
export function decodePatch(base64: string): PatchOp[] {
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as PatchOp[];
}
