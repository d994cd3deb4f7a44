/**
 * Paths inside the pod VM (upstream `pkg/paths`, reference §3.8). Every file CAA sends lives in
 * `/run/peerpod`; the VM-side reader writes nothing else.
 */
export const PEERPOD_DIR = '/run/peerpod';
export const APF_CONFIG_PATH = '/run/peerpod/apf.json';
export const AUTH_JSON_PATH = '/run/peerpod/auth.json';
export const INITDATA_PATH = '/run/peerpod/initdata';
export const SCRATCH_SPACE_MARKER_PATH = '/run/peerpod/scratch-space.marker';
export const AA_TOML_PATH = '/run/peerpod/aa.toml';
export const CDH_TOML_PATH = '/run/peerpod/cdh.toml';
/** Derived from initdata in the VM. */
export const POLICY_REGO_PATH = '/run/peerpod/policy.rego';
/** Hex digest of the raw initdata TOML, derived in the VM (read by attesters, extended into PCR 8). */
export const INITDATA_DIGEST_PATH = '/run/peerpod/initdata.digest';
/** Where a `cidata`-labelled disk is mounted (libvirt ISO, BYOM). */
export const CIDATA_DIR = '/media/cidata';

/** The only paths a cloud-config `write_files` entry may target (upstream's `WriteFilesList`). */
export const USER_DATA_WRITABLE_PATHS: readonly string[] = [
  AA_TOML_PATH,
  CDH_TOML_PATH,
  APF_CONFIG_PATH,
  AUTH_JSON_PATH,
  INITDATA_PATH,
  SCRATCH_SPACE_MARKER_PATH,
];
