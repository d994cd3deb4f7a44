import { describe, expect, it } from 'vitest';
import { cloudConfig, parseCloudConfig } from '../../../src/podvm/cloud-config.js';
import { UserDataError } from '../../../src/podvm/errors.js';
import { thrownBy } from '../../helpers/thrown.js';

/** The message parseCloudConfig refused `text` with (a UserDataError coded INVALID_USER_DATA). */
function invalid(text: string): string {
  const err = thrownBy(() => parseCloudConfig(text), UserDataError);
  expect(err.code).toBe('INVALID_USER_DATA');
  return err.message;
}

describe('strict cloud-config reading (VM side)', () => {
  it('reads what cloudConfig writes', () => {
    const files = [
      { path: '/run/peerpod/apf.json', content: '{\n    "a": 1\n}\n' },
      { path: '/run/peerpod/auth.json', content: '{"auths":{}}' },
      { path: '/run/peerpod/scratch-space.marker', content: '' },
      { path: '/run/peerpod/initdata', content: '12345' },
    ];
    expect(parseCloudConfig(cloudConfig(files))).toEqual(files);
    expect(parseCloudConfig('#cloud-config\nwrite_files: []\n')).toEqual([]);
    expect(parseCloudConfig('#cloud-config\r\nwrite_files:\r\n- path: /x\r\n')).toEqual([{ path: '/x', content: '' }]);
  });

  // Each text, and what the refusal names.
  const REFUSED: [string, string][] = [
    ['write_files: []\n', '#cloud-config'],
    ['#!/bin/bash\necho hi\n', '#cloud-config'],
    ['#cloud-config\n', 'mapping'],
    ['#cloud-config\nwrite_files: []\nruncmd: [ls]\n', '"runcmd"'],
    ['#cloud-config\nwrite_files:\n  - path: /run/peerpod/apf.json\n    content: x\n    owner: root:root\n', '"owner"'],
    ['#cloud-config\nwrite_files:\n  - path: /a\n    permissions: "0600"\n', '"permissions"'],
    ['#cloud-config\nwrite_files:\n  - content: x\n', 'path'],
    ['#cloud-config\nwrite_files:\n  - path: /a\n    content: 12\n', 'content'],
    ['#cloud-config\nwrite_files: {}\n', 'list'],
    ['#cloud-config\nwrite_files:\n  - /a\n', 'write_files[0]'],
    ['#cloud-config\nwrite_files:\n  - path: /a\n    path: /b\n', 'YAML'],
    ['#cloud-config\nwrite_files: []\n---\nwrite_files: []\n', 'YAML'],
    ['#cloud-config\nwrite_files: [\n', 'YAML'],
  ];

  it('refuses anything but #cloud-config with write_files of path and content', () => {
    for (const [text, names] of REFUSED) expect(invalid(text)).toContain(names);
  });
});
