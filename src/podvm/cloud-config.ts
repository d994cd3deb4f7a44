/**
 * The cloud-config a pod VM reads at boot (reference §3.8): `#cloud-config` and `write_files` entries
 * with only `path` and `content` — the in-VM parser is strict, any other key breaks provisioning.
 */
import { messageOf } from '../util/errors.js';
import { parse, stringify } from 'yaml';
import { UserDataError } from './errors.js';

export interface WriteFile {
  path: string;
  content: string;
}

export const CLOUD_CONFIG_HEADER = '#cloud-config';

export function cloudConfig(files: readonly WriteFile[]): string {
  const doc = { write_files: files.map((f) => ({ path: f.path, content: f.content })) };
  return `${CLOUD_CONFIG_HEADER}\n\n${stringify(doc, { blockQuote: 'literal', indentSeq: true, lineWidth: 0 })}`;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The VM-side strict reading (upstream `yaml.UnmarshalStrict` into `{write_files: [{path, content}]}`):
 * first line `#cloud-config`; one YAML document, a mapping whose only key is `write_files`, a list of
 * mappings with a non-empty string `path` and a string `content` (absent or null reads as '') and no
 * other key. Throws `UserDataError` (code `INVALID_USER_DATA`) saying what is wrong.
 */
export function parseCloudConfig(text: string): WriteFile[] {
  const firstLine = text.split('\n', 1)[0]?.replace(/\r$/, '').trimEnd();
  if (firstLine !== CLOUD_CONFIG_HEADER) throw new UserDataError(`user data does not start with "${CLOUD_CONFIG_HEADER}"`);
  let doc: unknown;
  try {
    doc = parse(text, { uniqueKeys: true, prettyErrors: false, schema: 'core', logLevel: 'error' });
  } catch (err) {
    throw new UserDataError(`user data is not valid YAML: ${messageOf(err).split('\n')[0]}`);
  }
  if (!isMap(doc)) throw new UserDataError('user data is not a YAML mapping');
  for (const key of Object.keys(doc)) {
    if (key !== 'write_files') throw new UserDataError(`user data: key "${key}" is not allowed (only "write_files")`);
  }
  const list = doc.write_files;
  if (!Array.isArray(list)) throw new UserDataError('user data: "write_files" must be a list');
  return list.map((entry: unknown, i): WriteFile => {
    if (!isMap(entry)) throw new UserDataError(`user data: write_files[${i}] is not a mapping`);
    for (const key of Object.keys(entry)) {
      if (key !== 'path' && key !== 'content') {
        throw new UserDataError(`user data: write_files[${i}]: key "${key}" is not allowed (only "path" and "content")`);
      }
    }
    const { path, content } = entry;
    if (typeof path !== 'string' || path === '') throw new UserDataError(`user data: write_files[${i}].path must be a non-empty string`);
    if (content !== undefined && content !== null && typeof content !== 'string') {
      throw new UserDataError(`user data: write_files[${i}].content must be a string`);
    }
    return { path, content: content ?? '' };
  });
}
