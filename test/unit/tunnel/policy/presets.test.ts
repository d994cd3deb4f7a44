import { describe, expect, it } from 'vitest';
import { decide } from '../../../../src/tunnel/policy/evaluate.js';
import { AGENT_METHODS, AGENT_RULE_NAMES } from '../../../../src/tunnel/policy/methods.js';
import { PolicyError, parsePolicy } from '../../../../src/tunnel/policy/parse.js';
import { PRESET_NAMES, isPresetName, presetPolicy } from '../../../../src/tunnel/policy/presets.js';

const allowed = (name: string, method: string): boolean => decide(parsePolicy(presetPolicy(name)), method).allow;

describe('presets', () => {
  it.each([
    // preset, ExecProcess, CreateContainer, SetPolicy, ReadStdout
    ['allow-all', true, true, true, true],
    ['allow-all-except-exec-process', false, true, true, true],
    ['disallow-all-except-setpolicy', false, false, true, false],
  ] as const)('%s', (name, exec, create, setPolicy, readStdout) => {
    expect(allowed(name, 'ExecProcess')).toBe(exec);
    expect(allowed(name, 'CreateContainer')).toBe(create);
    expect(allowed(name, 'SetPolicy')).toBe(setPolicy);
    expect(allowed(name, 'ReadStdout')).toBe(readStdout);
    expect(decide(parsePolicy(presetPolicy(name)), 'Check', 'grpc.Health').allow).toBe(true);
  });

  it('decide every agent method statically, with a default line per rule', () => {
    for (const name of PRESET_NAMES) {
      const p = parsePolicy(presetPolicy(name));
      expect([...p.defaults.keys()].sort()).toEqual([...AGENT_RULE_NAMES]);
      expect(p.conditionalRules.size).toBe(0);
      for (const m of AGENT_METHODS) {
        const d = decide(p, m);
        expect(d.rule).toMatch(/^default \w+ := (true|false)$/);
      }
    }
  });

  it('allow-all-except-exec-process denies exactly ExecProcess; disallow-all-except-setpolicy allows exactly SetPolicy', () => {
    expect(AGENT_METHODS.filter((m) => !allowed('allow-all-except-exec-process', m))).toEqual(['ExecProcess']);
    expect(AGENT_METHODS.filter((m) => allowed('disallow-all-except-setpolicy', m))).toEqual(['SetPolicy']);
    expect(AGENT_METHODS.filter((m) => !allowed('allow-all', m))).toEqual([]);
  });

  it('are upstream-shaped Rego texts', () => {
    const text = presetPolicy('allow-all-except-exec-process');
    expect(text).toContain('\npackage agent_policy\n');
    expect(text).toContain('\ndefault ExecProcessRequest := false\n');
    expect(text).toContain('\ndefault ReadStreamRequest := true\n');
    expect(text).toContain('\ndefault WriteStreamRequest := true\n');
    expect(text).toContain('\ndefault GuestDetailsRequest := true\n');
    expect(text.startsWith('# allow-all-except-exec-process: ')).toBe(true);
  });

  it('rejects an unknown name, listing the known ones', () => {
    expect(isPresetName('allow-all')).toBe(true);
    expect(isPresetName('deny-all')).toBe(false);
    let err: unknown;
    try {
      presetPolicy('deny-all');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe('INVALID_POLICY');
    expect((err as Error).message).toBe(
      'unknown policy preset "deny-all"; known presets: allow-all, allow-all-except-exec-process, disallow-all-except-setpolicy',
    );
    expect(() => presetPolicy('constructor')).toThrow(PolicyError);
  });
});
