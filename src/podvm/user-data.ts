/**
 * What a sandbox's VM receives (reference §3.8–§3.10): one cloud-config whose `write_files` carry
 * apf.json, auth.json, initdata and the scratch-space marker. Pure: no I/O, same input → same text.
 */
import { renderApfJson, type ApfConfig } from './apf-config.js';
import { cloudConfig, type WriteFile } from './cloud-config.js';
import { encodeInitdata, parseInitdata } from './initdata.js';
import { APF_CONFIG_PATH, AUTH_JSON_PATH, INITDATA_PATH, SCRATCH_SPACE_MARKER_PATH } from './paths.js';

export { APF_CONFIG_PATH } from './paths.js';

export interface UserDataInput {
  /** The forwarder's configuration; always written. */
  apf: ApfConfig;
  /** `json` of a successful `buildAuthJson`; omitted or '' → no auth.json. */
  authJson?: string;
  /** Raw initdata TOML from the pod annotation (as the shim decoded it); '' when the pod has none. */
  initdata?: string;
  /** Global `INITDATA`, already gzip+base64 (checked at start-up by `validateGlobalInitdata`); '' when unset. */
  globalInitdata?: string;
  /** Ask the VM to set up encrypted scratch space (`/run/peerpod/scratch-space.marker`). */
  scratchSpace?: boolean;
}

/** Ends non-empty content with a newline so each entry is a `content: |` block, the shape upstream writes. */
const block = (s: string): string => (s === '' || s.endsWith('\n') ? s : `${s}\n`);

/**
 * The user-data document, files in this order: `/run/peerpod/apf.json` (always),
 * `/run/peerpod/auth.json` (if `authJson`), `/run/peerpod/initdata` (the pod's initdata re-encoded
 * gzip+base64, else the global one as given, else none), `/run/peerpod/scratch-space.marker` (empty,
 * if `scratchSpace`). Entries carry only `path` and `content`. Provider-specific encoding of the whole
 * blob (base64 for AWS/Azure/GCP) is the provider's job.
 * Throws `ApfConfigError` for a bad `apf` and `InitdataError` for bad pod initdata, so a pod that
 * would get an unbootable VM fails at CreateVM with a reason.
 */
export function buildUserData(input: UserDataInput): string {
  const files: WriteFile[] = [{ path: APF_CONFIG_PATH, content: renderApfJson(input.apf) }];
  if (input.authJson) files.push({ path: AUTH_JSON_PATH, content: block(input.authJson) });
  const podInitdata = input.initdata ?? '';
  const globalInitdata = (input.globalInitdata ?? '').trim();
  if (podInitdata !== '') {
    parseInitdata(podInitdata);
    files.push({ path: INITDATA_PATH, content: block(encodeInitdata(podInitdata)) });
  } else if (globalInitdata !== '') {
    files.push({ path: INITDATA_PATH, content: block(globalInitdata) });
  }
  if (input.scratchSpace) files.push({ path: SCRATCH_SPACE_MARKER_PATH, content: '' });
  return cloudConfig(files);
}
