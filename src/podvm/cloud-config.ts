/**
 * The cloud-config a pod VM reads at boot (reference §3.8): `#cloud-config` and `write_files` entries
 * with only `path` and `content` — the in-VM parser is strict, any other key breaks provisioning.
 */
import { stringify } from 'yaml';

export interface WriteFile {
  path: string;
  content: string;
}

export function cloudConfig(files: readonly WriteFile[]): string {
  const doc = { write_files: files.map((f) => ({ path: f.path, content: f.content })) };
  return `#cloud-config\n\n${stringify(doc, { blockQuote: 'literal', indentSeq: true, lineWidth: 0 })}`;
}
