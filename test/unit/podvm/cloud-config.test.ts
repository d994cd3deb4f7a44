import { describe, expect, it } from 'vitest';
import { cloudConfig, parseCloudConfig } from '../../../src/podvm/cloud-config.js';
import { UserDataError } from '../../../src/podvm/errors.js';

function invalid(text: string): string {
  try {
    parseCloudConfig(text);
  } catch (err) {
    expect(err).toBeInstanceOf(UserDataError);
    expect((err as UserDataError).code).toBe('INVALID_USER_DATA');
    return (err as Error).message;
  }
  throw new Error('expected a UserDataError');
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

  it('refuses anything but #cloud-config with write_files of path and content', () => {
    expect(invalid('write_files: []\n')).toContain('#cloud-config');
    expect(invalid('#!/bin/bash\necho hi\n')).toContain('#cloud-config');
    expect(invalid('#cloud-config\n')).toContain('mapping');
    expect(invalid('#cloud-config\nwrite_files: []\nruncmd: [ls]\n')).toContain('"runcmd"');
    expect(invalid('#cloud-config\nwrite_files:\n  - path: /run/peerpod/apf.json\n    content: x\n    owner: root:root\n')).toContain('"owner"');
    expect(invalid('#cloud-config\nwrite_files:\n  - path: /a\n    permissions: "0600"\n')).toContain('"permissions"');
    expect(invalid('#cloud-config\nwrite_files:\n  - content: x\n')).toContain('path');
    expect(invalid('#cloud-config\nwrite_files:\n  - path: /a\n    content: 12\n')).toContain('content');
    expect(invalid('#cloud-config\nwrite_files: {}\n')).toContain('list');
    expect(invalid('#cloud-config\nwrite_files:\n  - /a\n')).toContain('write_files[0]');
    expect(invalid('#cloud-config\nwrite_files:\n  - path: /a\n    path: /b\n')).toContain('YAML');
    expect(invalid('#cloud-config\nwrite_files: []\n---\nwrite_files: []\n')).toContain('YAML');
    expect(invalid('#cloud-config\nwrite_files: [\n')).toContain('YAML');
  });
});
