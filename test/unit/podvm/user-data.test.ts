import { describe, expect, it } from 'vitest';
import type { ApfConfig } from '../../../src/podvm/apf-config.js';
import { parseCloudConfig } from '../../../src/podvm/cloud-config.js';
import { InitdataError } from '../../../src/podvm/errors.js';
import { decodeInitdata, encodeInitdata } from '../../../src/podvm/initdata.js';
import { buildUserData } from '../../../src/podvm/user-data.js';

const apf: ApfConfig = {
  'pod-namespace': 'default',
  'pod-name': 'nginx',
  'tls-client-ca': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
};
const AUTH = '{"auths":{"quay.io":{"auth":"dTpw"}}}';
const POD_INITDATA = 'algorithm = "sha256"\nversion = "0.1.0"\n\n[data]\n"aa.toml" = "pod"\n';
const GLOBAL_INITDATA = encodeInitdata('algorithm = "sha512"\nversion = "0.1.0"\n\n[data]\n"cdh.toml" = "global"\n');

describe('user data', () => {
  it('writes apf.json, auth.json, initdata and the scratch marker in this exact shape', () => {
    const text = buildUserData({ apf, authJson: AUTH, initdata: POD_INITDATA, globalInitdata: GLOBAL_INITDATA, scratchSpace: true });
    // Hand-written; only the gzip output is computed (its bytes depend on the zlib build).
    const expected = `#cloud-config

write_files:
  - path: /run/peerpod/apf.json
    content: |
      {
          "pod-network": null,
          "pod-namespace": "default",
          "pod-name": "nginx",
          "tls-client-ca": "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
      }
  - path: /run/peerpod/auth.json
    content: |
      {"auths":{"quay.io":{"auth":"dTpw"}}}
  - path: /run/peerpod/initdata
    content: |
      ${encodeInitdata(POD_INITDATA)}
  - path: /run/peerpod/scratch-space.marker
    content: ""
`;
    expect(text).toBe(expected);
    const files = parseCloudConfig(text);
    expect(files.map((f) => f.path)).toEqual([
      '/run/peerpod/apf.json',
      '/run/peerpod/auth.json',
      '/run/peerpod/initdata',
      '/run/peerpod/scratch-space.marker',
    ]);
    expect(JSON.parse(files[1]!.content)).toEqual(JSON.parse(AUTH));
    expect(decodeInitdata(files[2]!.content)).toBe(POD_INITDATA);
    expect(files[3]!.content).toBe('');
  });

  it('prefers the pod initdata over the global one, and uses the global one as given otherwise', () => {
    const initdataOf = (text: string): string | undefined => parseCloudConfig(text).find((f) => f.path === '/run/peerpod/initdata')?.content;
    expect(decodeInitdata(initdataOf(buildUserData({ apf, initdata: POD_INITDATA, globalInitdata: GLOBAL_INITDATA }))!)).toBe(POD_INITDATA);
    expect(initdataOf(buildUserData({ apf, initdata: '', globalInitdata: GLOBAL_INITDATA }))).toBe(`${GLOBAL_INITDATA}\n`);
    expect(initdataOf(buildUserData({ apf, initdata: '', globalInitdata: '' }))).toBeUndefined();
    expect(initdataOf(buildUserData({ apf }))).toBeUndefined();
  });

  it('writes only apf.json when nothing else is asked for', () => {
    expect(parseCloudConfig(buildUserData({ apf, authJson: '', scratchSpace: false })).map((f) => f.path)).toEqual(['/run/peerpod/apf.json']);
  });

  it('refuses pod initdata the VM would refuse', () => {
    expect(() => buildUserData({ apf, initdata: 'algorithm = "md5"\nversion = "1"\n' })).toThrow(InitdataError);
    expect(() => buildUserData({ apf, initdata: 'not toml' })).toThrow(expect.objectContaining({ code: 'INVALID_INITDATA' }));
  });
});
