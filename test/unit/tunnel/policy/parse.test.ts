import { describe, expect, it } from 'vitest';
import { PolicyError, parsePolicy } from '../../../../src/tunnel/policy/parse.js';
import { thrownBy } from '../../../helpers/thrown.js';

function parseError(text: string): PolicyError {
  const err = thrownBy(() => parsePolicy(text), PolicyError);
  expect(err.code).toBe('INVALID_POLICY');
  return err;
}

describe('parsePolicy', () => {
  it('reads defaults in := and = form, with their statements and lines', () => {
    const p = parsePolicy(
      ['# comment first', 'package agent_policy', '', 'default ExecProcessRequest := false', 'default CreateContainerRequest = true', ''].join('\n'),
    );
    expect(p.package).toBe('agent_policy');
    expect(p.defaults.get('ExecProcessRequest')).toEqual({ value: false, statement: 'default ExecProcessRequest := false', line: 4 });
    expect(p.defaults.get('CreateContainerRequest')).toEqual({ value: true, statement: 'default CreateContainerRequest = true', line: 5 });
    expect(p.conditionalRules.size).toBe(0);
    expect(p.allowRequestsFailingPolicy).toBe(false);
    expect(p.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('finds rules with bodies in if { }, bare { }, value-if and multi-line forms, at top level only', () => {
    const p = parsePolicy(`package agent_policy
import rego.v1
import future.keywords.in

default CreateContainerRequest := false
CreateContainerRequest if {
    some c in policy_data.containers
    c.name == input.name
    # ExecProcessRequest { this is a comment, not a rule }
    x := "SignalProcessRequest {"
}

ReadStreamRequest {
    input.exec_id == ""
}

WaitProcessRequest := true if input.container_id != ""

CopyFileRequest
{
    startswith(input.path, "/run/")
}

policy_data := {
  "containers": [{"name": "ExecProcessRequest { }"}],
}
`);
    expect([...p.conditionalRules].sort()).toEqual(['CopyFileRequest', 'CreateContainerRequest', 'ReadStreamRequest', 'WaitProcessRequest', 'policy_data']);
    expect(p.conditionalRules.has('ExecProcessRequest')).toBe(false);
    expect(p.conditionalRules.has('SignalProcessRequest')).toBe(false);
  });

  it('does not merge the statement after `import future.keywords.if` into the import', () => {
    const p = parsePolicy('package agent_policy\nimport future.keywords.if\ndefault ExecProcessRequest := false\nimport future.keywords.in\nCopyFileRequest if {\n  true\n}\n');
    expect(p.defaults.get('ExecProcessRequest')).toMatchObject({ value: false, line: 3 });
    expect(p.conditionalRules.has('CopyFileRequest')).toBe(true);
  });

  it('reads CRLF text, trailing comments, and a default whose value is on the next line', () => {
    const p = parsePolicy('package agent_policy\r\ndefault ExecProcessRequest := false # no exec\r\ndefault CopyFileRequest :=\r\n  true\r\n');
    expect(p.defaults.get('ExecProcessRequest')).toEqual({ value: false, statement: 'default ExecProcessRequest := false', line: 2 });
    expect(p.defaults.get('CopyFileRequest')).toMatchObject({ value: true, line: 3 });
  });

  it("accepts genpolicy's metadata default object and reads its allowed member", () => {
    const p = parsePolicy(`package agent_policy
default CreateContainerRequest := {"ops": [], "allowed": false}
default UpdateEphemeralMountsRequest := {
  "ops": [{"op": "add", "allowed": true}],
  "allowed": true,
}
`);
    expect(p.defaults.get('CreateContainerRequest')?.value).toBe(false);
    expect(p.defaults.get('UpdateEphemeralMountsRequest')?.value).toBe(true);
  });

  it('ignores defaults of helper rules whatever their value', () => {
    const p = parsePolicy('package agent_policy\ndefault max_len := 100\ndefault allow_env := false\n');
    expect(p.defaults.has('max_len')).toBe(false);
    expect(p.defaults.get('allow_env')?.value).toBe(false);
  });

  it('reads AllowRequestsFailingPolicy', () => {
    expect(parsePolicy('package agent_policy\ndefault AllowRequestsFailingPolicy := true\n').allowRequestsFailingPolicy).toBe(true);
    expect(parsePolicy('package agent_policy\ndefault AllowRequestsFailingPolicy := false\n').allowRequestsFailingPolicy).toBe(false);
  });

  it('accepts the same default twice with the same value', () => {
    const p = parsePolicy('package agent_policy\ndefault SetPolicyRequest := true\ndefault SetPolicyRequest = true\n');
    expect(p.defaults.get('SetPolicyRequest')?.line).toBe(2);
  });

  it('handles raw strings and escaped quotes', () => {
    const p = parsePolicy('package agent_policy\nre := `a{\n"b`\nmsg := "say \\"hi\\" {"\ndefault ExecProcessRequest := true\n');
    expect(p.defaults.get('ExecProcessRequest')).toMatchObject({ value: true, line: 5 });
  });

  it('digests the text', () => {
    const a = parsePolicy('package agent_policy\ndefault ExecProcessRequest := true\n');
    const b = parsePolicy('package agent_policy\ndefault ExecProcessRequest := false\n');
    expect(a.digest).not.toBe(b.digest);
  });

  describe('errors', () => {
    it('rejects text that is not Rego in package agent_policy', () => {
      expect(parseError('').message).toMatch(/empty/);
      expect(parseError('   \n# only a comment\n').message).toMatch(/empty/);
      expect(parseError('{"policy": true}').message).toMatch(/first statement must be "package agent_policy"/);
      expect(parseError('default ExecProcessRequest := true\npackage agent_policy\n').message).toMatch(/first statement/);
      const other = parseError('package coco_policy\ndefault ExecProcessRequest := true\n');
      expect(other.message).toMatch(/package coco_policy.*only reads package agent_policy/);
      expect(other.line).toBe(1);
      expect(parseError('package agent_policy\npackage other\n').message).toMatch(/second package/);
    });

    it('rejects a request default that is not a boolean', () => {
      const e = parseError('package agent_policy\n\ndefault ExecProcessRequest := "yes"\n');
      expect(e.message).toMatch(/line 3: default ExecProcessRequest must be true or false, not "yes"/);
      expect(e.line).toBe(3);
      expect(parseError('package agent_policy\ndefault MemAgentMemcgConfig := 1\n').message).toMatch(/MemAgentMemcgConfig/);
      expect(parseError('package agent_policy\ndefault CreateContainerRequest := {"ops": []}\n').message).toMatch(/must be true or false/);
      expect(parseError('package agent_policy\ndefault AllowRequestsFailingPolicy := "on"\n').message).toMatch(/AllowRequestsFailingPolicy/);
    });

    it('rejects the same default with two values', () => {
      const e = parseError('package agent_policy\ndefault ExecProcessRequest := true\n\ndefault ExecProcessRequest := false\n');
      expect(e.message).toMatch(/line 4: default ExecProcessRequest is false here but true on line 2/);
      expect(e.line).toBe(4);
    });

    it('rejects unbalanced brackets and unterminated strings (a truncated policy)', () => {
      expect(parseError('package agent_policy\nExecProcessRequest if {\n  true\n').message).toMatch(/opened on line 2 is never closed/);
      expect(parseError('package agent_policy\n}\n').message).toMatch(/unbalanced '}' on line 2/);
      expect(parseError('package agent_policy\nx := "abc\n').message).toMatch(/unterminated string on line 2/);
      expect(parseError('package agent_policy\nx := `abc\n').message).toMatch(/unterminated raw string/);
    });

    it('rejects a non-string', () => {
      expect(parseError(undefined as unknown as string).message).toMatch(/must be a string/);
    });
  });

  // How fast: bench/policy (a ratio against JSON.parse in the same run), not a timed assertion here.
  it('parses a large policy (20 000 data lines with braces and hashes inside strings)', () => {
    const big = `package agent_policy\ndefault CreateContainerRequest := false\npolicy_data := {\n${Array.from(
      { length: 20_000 },
      (_, i) => `  "k${i}": "value ${i} with { braces } and # hashes",`,
    ).join('\n')}\n}\nCreateContainerRequest if { input.x == policy_data.k1 }\n`;
    const p = parsePolicy(big);
    expect(p.conditionalRules.has('CreateContainerRequest')).toBe(true);
  });
});
