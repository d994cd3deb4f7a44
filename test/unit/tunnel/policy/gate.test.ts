import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Code, TtrpcError } from '../../../../src/ttrpc/codes.js';
import {
  DEFAULT_POLICY_PATH,
  INITDATA_POLICY_PATH,
  PolicyError,
  PolicyGate,
  presetPolicy,
} from '../../../../src/tunnel/policy/index.js';
import type { RequestGate } from '../../../../src/tunnel/forwarder.js';
import { makeTempDir, removeDir } from '../../../helpers/async.js';
import { thrownBy } from '../../../helpers/thrown.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('policy-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** The TtrpcError the gate refused a call with. */
const refusal = (fn: () => void): TtrpcError => thrownBy(fn, TtrpcError);

const EXEC_ONLY = 'package agent_policy\ndefault ExecProcessRequest := true\n';

describe('PolicyGate.check', () => {
  it("is the forwarder's RequestGate", () => {
    const gate: RequestGate = PolicyGate.fromPreset('allow-all');
    expect(() => gate.check('grpc.AgentService', 'ExecProcess')).not.toThrow();
    gate.update?.(presetPolicy('allow-all-except-exec-process'));
    expect(() => gate.check('grpc.AgentService', 'ExecProcess')).toThrow(TtrpcError);
  });

  it('refuses with PERMISSION_DENIED naming the method and the rule', () => {
    const gate = PolicyGate.fromPreset('allow-all-except-exec-process');
    const err = refusal(() => gate.check('grpc.AgentService', 'ExecProcess'));
    expect(err.code).toBe(Code.PERMISSION_DENIED);
    expect(err.message).toBe('ExecProcess is refused by policy: default ExecProcessRequest := false');
    expect(() => gate.check('grpc.AgentService', 'CreateContainer')).not.toThrow();
    expect(() => gate.check('grpc.AgentService', 'ReadStdout')).not.toThrow();
  });

  it('names a missing rule', () => {
    const gate = PolicyGate.fromText(EXEC_ONLY);
    expect(refusal(() => gate.check('grpc.AgentService', 'CopyFile')).message).toBe(
      'CopyFile is refused by policy: no rule for CopyFileRequest (denied by default)',
    );
  });

  it('lets grpc.Health through under any policy', () => {
    const gate = PolicyGate.fromPreset('disallow-all-except-setpolicy');
    expect(() => gate.check('grpc.Health', 'Check')).not.toThrow();
    expect(() => gate.check('grpc.Health', 'Version')).not.toThrow();
    expect(() => gate.check('grpc.AgentService', 'CreateSandbox')).toThrow(TtrpcError);
  });

  it('decides other services by <Method>Request', () => {
    const gate = PolicyGate.fromText('package agent_policy\ndefault PullImageRequest := true\n');
    expect(() => gate.check('grpc.Image', 'PullImage')).not.toThrow();
    expect(() => gate.check('other.Service', 'Foo')).toThrow(/no rule for FooRequest/);
  });
});

describe('PolicyGate.update', () => {
  it('changes decisions after a SetPolicy and records the source', () => {
    const gate = PolicyGate.fromPreset('disallow-all-except-setpolicy');
    expect(gate.source).toMatchObject({ kind: 'preset', preset: 'disallow-all-except-setpolicy' });
    expect(() => gate.check('grpc.AgentService', 'CreateContainer')).toThrow(TtrpcError);
    const p = gate.update(presetPolicy('allow-all-except-exec-process'));
    expect(gate.policy).toBe(p);
    expect(gate.source.kind).toBe('setpolicy');
    expect(gate.source.description).toMatch(/^SetPolicy \(sha256 [0-9a-f]{12}\)$/);
    expect(() => gate.check('grpc.AgentService', 'CreateContainer')).not.toThrow();
    expect(() => gate.check('grpc.AgentService', 'ExecProcess')).toThrow(/ExecProcessRequest := false/);
  });

  it('keeps the previous policy when the new text does not parse', () => {
    const gate = PolicyGate.fromPreset('allow-all-except-exec-process');
    const before = gate.policy;
    expect(() => gate.update('package coco_policy\n')).toThrow(PolicyError);
    expect(() => gate.update('package coco_policy\n')).toThrow(/^SetPolicy: policy is in package coco_policy/);
    expect(gate.policy).toBe(before);
    expect(gate.source.kind).toBe('preset');
  });

  it('turns an allow-all gate into an enforcing one', () => {
    const gate = PolicyGate.allowAll();
    expect(gate.warning).toBeDefined();
    gate.update(EXEC_ONLY);
    expect(gate.warning).toBeUndefined();
    expect(() => gate.check('grpc.AgentService', 'CreateContainer')).toThrow(TtrpcError);
  });
});

describe('PolicyGate.fromSources', () => {
  const initdataPolicy = 'package agent_policy\ndefault ExecProcessRequest := false\ndefault CreateContainerRequest := true\n';
  const imagePolicy = 'package agent_policy\ndefault ExecProcessRequest := true\n';

  async function files(which: { initdata?: string; image?: string }) {
    const initdataPolicyPath = join(dir, 'run', 'policy.rego');
    const defaultPolicyPath = join(dir, 'etc', 'default-policy.rego');
    if (which.initdata !== undefined) {
      await mkdir(join(dir, 'run'), { recursive: true });
      await writeFile(initdataPolicyPath, which.initdata);
    }
    if (which.image !== undefined) {
      await mkdir(join(dir, 'etc'), { recursive: true });
      await writeFile(defaultPolicyPath, which.image);
    }
    return { initdataPolicyPath, defaultPolicyPath };
  }

  it('prefers the initdata policy', async () => {
    const paths = await files({ initdata: initdataPolicy, image: imagePolicy });
    const gate = await PolicyGate.fromSources({ ...paths, preset: 'allow-all' });
    expect(gate.source).toEqual({ kind: 'initdata', description: `initdata ${paths.initdataPolicyPath}`, path: paths.initdataPolicyPath });
    expect(gate.warning).toBeUndefined();
    expect(gate.decide('grpc.AgentService', 'ExecProcess').allow).toBe(false);
    expect(gate.decide('grpc.AgentService', 'CreateContainer').allow).toBe(true);
  });

  it('falls back to the image default policy', async () => {
    const paths = await files({ image: imagePolicy });
    const gate = await PolicyGate.fromSources({ ...paths, preset: 'disallow-all-except-setpolicy' });
    expect(gate.source).toMatchObject({ kind: 'default', path: paths.defaultPolicyPath });
    expect(gate.decide('grpc.AgentService', 'ExecProcess').allow).toBe(true);
    expect(gate.decide('grpc.AgentService', 'CreateContainer').allow).toBe(false);
  });

  it('falls back to the preset', async () => {
    const paths = await files({});
    const gate = await PolicyGate.fromSources({ ...paths, preset: 'allow-all-except-exec-process' });
    expect(gate.source).toEqual({ kind: 'preset', description: 'preset allow-all-except-exec-process', preset: 'allow-all-except-exec-process' });
    expect(gate.decide('grpc.AgentService', 'ExecProcess').allow).toBe(false);
  });

  it('allows everything with a warning when there is no source at all', async () => {
    const gate = await PolicyGate.fromSources(await files({}));
    expect(gate.source.kind).toBe('none');
    expect(gate.policy).toBeUndefined();
    expect(gate.warning).toMatch(/no policy found/);
    expect(gate.decide('grpc.AgentService', 'ExecProcess')).toEqual({
      allow: true,
      conditional: false,
      rule: 'no policy in force (every request is allowed)',
    });
    expect((await PolicyGate.fromSources()).warning).toBeDefined();
  });

  it('does not fall back when the initdata policy is invalid', async () => {
    const paths = await files({ initdata: 'package agent_policy\ndefault ExecProcessRequest := "maybe"\n', image: imagePolicy });
    const err = await PolicyGate.fromSources(paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe('INVALID_POLICY');
    expect((err as PolicyError).line).toBe(2);
    expect((err as Error).message).toContain(`initdata policy ${paths.initdataPolicyPath}: line 2: default ExecProcessRequest must be true or false`);
  });

  it('reports an unreadable policy file', async () => {
    const paths = await files({});
    await mkdir(paths.initdataPolicyPath, { recursive: true }); // a directory: EISDIR
    const err = await PolicyGate.fromSources(paths).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as Error).message).toMatch(/^cannot read policy .*policy\.rego/);
  });

  it('rejects an unknown preset even when a file is found', async () => {
    const paths = await files({ initdata: initdataPolicy });
    await expect(PolicyGate.fromSources({ ...paths, preset: 'allow-everything' })).rejects.toThrow(/known presets: allow-all,/);
  });

  it('treats a path under a missing or non-directory parent as absent', async () => {
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    const gate = await PolicyGate.fromSources({ initdataPolicyPath: join(notADir, 'policy.rego'), preset: 'allow-all' });
    expect(gate.source.kind).toBe('preset');
  });

  it('exports the conventional paths', () => {
    expect(INITDATA_POLICY_PATH).toBe('/run/peerpod/policy.rego');
    expect(DEFAULT_POLICY_PATH).toBe('/etc/kata-opa/default-policy.rego');
  });

  it.skipIf(process.getuid?.() === 0)('reports a file it may not read', async () => {
    const paths = await files({ initdata: initdataPolicy });
    await chmod(paths.initdataPolicyPath, 0o000);
    await expect(PolicyGate.fromSources(paths)).rejects.toThrow(/cannot read policy/);
  });
});
