import { describe, expect, it } from 'vitest';
import { decide } from '../../../../src/tunnel/policy/evaluate.js';
import { AGENT_METHODS, requestRuleName } from '../../../../src/tunnel/policy/methods.js';
import { parsePolicy } from '../../../../src/tunnel/policy/parse.js';

const policy = (body: string) => parsePolicy(`package agent_policy\n${body}\n`);

describe('decide', () => {
  it('default true allows, default false without bodies denies, naming the statement', () => {
    const p = policy('default CreateContainerRequest := true\ndefault ExecProcessRequest := false');
    expect(decide(p, 'CreateContainer')).toEqual({ allow: true, rule: 'default CreateContainerRequest := true', conditional: false });
    expect(decide(p, 'ExecProcess')).toEqual({ allow: false, rule: 'default ExecProcessRequest := false' });
  });

  it('an undefined rule denies', () => {
    expect(decide(policy('default CreateContainerRequest := true'), 'ExecProcess')).toEqual({
      allow: false,
      rule: 'no rule for ExecProcessRequest (denied by default)',
    });
  });

  it('default false with a bodied rule allows here and says the agent decides', () => {
    const d = decide(policy('default ExecProcessRequest := false\nExecProcessRequest if {\n  input.process.Args[0] == "ls"\n}'), 'ExecProcess');
    expect(d).toEqual({
      allow: true,
      conditional: true,
      rule: 'default ExecProcessRequest := false, and ExecProcessRequest has rules with bodies (conditional: the agent evaluates them)',
    });
  });

  it('a bodied rule without a default allows (conditional)', () => {
    const d = decide(policy('CopyFileRequest {\n  startswith(input.path, "/run/")\n}'), 'CopyFile');
    expect(d).toEqual({ allow: true, conditional: true, rule: 'CopyFileRequest has rules with bodies and no default (conditional: the agent evaluates them)' });
  });

  it('default true with a bodied rule is conditional too (a body may yield false)', () => {
    const d = decide(policy('default SetPolicyRequest := true\nSetPolicyRequest := false if { input.policy == "" }'), 'SetPolicy');
    expect(d).toMatchObject({ allow: true, conditional: true });
  });

  it('uses the request type the agent names the rule after', () => {
    const p = policy('default ReadStreamRequest := true\ndefault WriteStreamRequest := false\ndefault GuestDetailsRequest := true');
    expect(decide(p, 'ReadStdout')).toMatchObject({ allow: true, rule: 'default ReadStreamRequest := true' });
    expect(decide(p, 'ReadStderr')).toMatchObject({ allow: true });
    expect(decide(p, 'WriteStdin')).toEqual({ allow: false, rule: 'default WriteStreamRequest := false' });
    expect(decide(p, 'GetGuestDetails')).toMatchObject({ allow: true });
    // A rule named after the method does not count: the agent never consults ReadStdoutRequest.
    expect(decide(policy('default ReadStdoutRequest := true'), 'ReadStdout')).toMatchObject({ allow: false });
  });

  it('names unknown methods <Method>Request', () => {
    expect(requestRuleName('PullImage')).toBe('PullImageRequest');
    expect(requestRuleName('toString')).toBe('toStringRequest');
    const p = policy('default PullImageRequest := true');
    expect(decide(p, 'PullImage', 'grpc.Image')).toMatchObject({ allow: true });
    expect(decide(p, 'Frobnicate')).toEqual({ allow: false, rule: 'no rule for FrobnicateRequest (denied by default)' });
  });

  it('always allows grpc.Health', () => {
    const p = policy('default SetPolicyRequest := false');
    expect(decide(p, 'Check', 'grpc.Health')).toEqual({ allow: true, rule: 'grpc.Health is always allowed', conditional: false });
    expect(decide(p, 'Version', 'grpc.Health').allow).toBe(true);
  });

  it('AllowRequestsFailingPolicy := true allows everything, as the agent does', () => {
    const p = policy('default AllowRequestsFailingPolicy := true\ndefault ExecProcessRequest := false');
    const d = decide(p, 'ExecProcess');
    expect(d.allow).toBe(true);
    expect(d.rule).toMatch(/^default AllowRequestsFailingPolicy := true/);
    expect(decide(p, 'Anything').allow).toBe(true);
  });

  it('every agent method has a rule name', () => {
    for (const m of AGENT_METHODS) expect(requestRuleName(m)).toMatch(/^[A-Z]\w+(Request|Config)$/);
    expect(AGENT_METHODS).toHaveLength(42);
  });
});

/**
 * An excerpt written in the style of upstream policies (genpolicy's rules.rego and the kata-opa
 * samples): rego.v1 and pre-v1 syntax mixed, metadata-object defaults, helper rules and data.
 */
const UPSTREAM_STYLE = `# Copyright (c) 2023 Example
#
# SPDX-License-Identifier: Apache-2.0

package agent_policy

import future.keywords.in
import future.keywords.every
import future.keywords.if

import input

# Default values:
# - true for requests that are allowed by default.
# - false for requests that have additional policy rules, defined below.
# - Requests that are not listed here get rejected by default.

# More detailed policy rules are below.
default CopyFileRequest := false
default CreateContainerRequest := {"ops": [], "allowed": false}
default CreateSandboxRequest := false
default ExecProcessRequest := false
default UpdateEphemeralMountsRequest := false

# Requests that are always allowed.
default DestroySandboxRequest := true
default GetOOMEventRequest := true
default GuestDetailsRequest := true
default ListInterfacesRequest := false
default OnlineCPUMemRequest := true
default ReadStreamRequest := true
default RemoveContainerRequest := true
default SignalProcessRequest := true
default StartContainerRequest := true
default StatsContainerRequest := true
default TtyWinResizeRequest := true
default UpdateInterfaceRequest := true
default UpdateRoutesRequest := true
default WaitProcessRequest := true
default WriteStreamRequest := false

# AllowRequestsFailingPolicy := true configures the Agent to *allow any
# requests causing a policy failure*. This is an unsecure configuration
# but is useful for allowing unsecure pods to start, then connect to them
# and inspect OPA logs for the root cause of a failure.
default AllowRequestsFailingPolicy := false

CreateContainerRequest := {"ops": ops, "allowed": true} if {
    # Check if the input request should be rejected even before checking the
    # policy_data.containers information.
    allow_create_container_input

    i_oci := input.OCI
    i_storages := input.storages

    some p_container in policy_data.containers
    print("======== CreateContainerRequest: trying next policy container")

    p_oci := p_container.OCI
    p_storages := p_container.storages
    allow_by_anno(p_oci, i_oci, p_storages, i_storages)
    ops := [{"op": "add", "path": "/pstate/sandbox_name", "value": i_oci.Annotations["io.kubernetes.pod.name"]}]
}

allow_create_container_input {
    print("allow_create_container_input: input =", input)

    count(input.shared_mounts) == 0
    is_null(input.string_user)

    i_oci := input.OCI
    is_null(i_oci.Hooks)
}

CreateSandboxRequest if {
    print("CreateSandboxRequest: input.guest_hook_path =", input.guest_hook_path)
    count(input.guest_hook_path) == 0

    print("CreateSandboxRequest: input.kernel_modules =", input.kernel_modules)
    count(input.kernel_modules) == 0

    i_pidns := input.sandbox_pidns
    print("CreateSandboxRequest: i_pidns =", i_pidns)
    i_pidns == false
}

ExecProcessRequest {
    print("ExecProcessRequest 1: input =", input)
    i_command = concat(" ", input.process.Args)
    print("ExecProcessRequest 1: i_command =", i_command)

    some p_command in policy_data.request_defaults.ExecProcessRequest.commands
    p_command == i_command
}

CopyFileRequest if {
    print("CopyFileRequest: input.path =", input.path)
    some regex1 in policy_data.request_defaults.CopyFileRequest
    regex.match(regex1, input.path)
}

policy_data := {
  "containers": [
    {
      "OCI": {
        "Version": "1.1.0",
        "Annotations": {"io.kubernetes.cri.container-type": "sandbox"}
      },
      "storages": []
    }
  ],
  "request_defaults": {
    "CopyFileRequest": ["^$(cpath)/"],
    "ExecProcessRequest": {"commands": ["sh -c cat /proc/self/status"], "regex": []},
    "UpdateEphemeralMountsRequest": false,
    "WriteStreamRequest": false
  }
}
`;

describe('an upstream-style policy', () => {
  const p = parsePolicy(UPSTREAM_STYLE);

  it('reads its defaults, bodies and data without tripping on helpers', () => {
    expect([...p.conditionalRules].sort()).toEqual([
      'CopyFileRequest',
      'CreateContainerRequest',
      'CreateSandboxRequest',
      'ExecProcessRequest',
      'allow_create_container_input',
      'policy_data',
    ]);
    expect(p.defaults.get('CreateContainerRequest')?.value).toBe(false);
    expect(p.allowRequestsFailingPolicy).toBe(false);
  });

  it.each([
    ['ExecProcess', true, true],
    ['CreateContainer', true, true],
    ['CreateSandbox', true, true],
    ['CopyFile', true, true],
    ['StartContainer', true, false],
    ['ReadStdout', true, false],
    ['WriteStdin', false, false],
    ['UpdateEphemeralMounts', false, false],
    ['ListInterfaces', false, false],
    ['SetPolicy', false, false],
    ['GetIPTables', false, false],
  ] as const)('%s: allow=%s conditional=%s', (method, allow, conditional) => {
    const d = decide(p, method);
    expect(d.allow).toBe(allow);
    if (d.allow) expect(d.conditional).toBe(conditional);
  });

  it('names the statement that decided', () => {
    expect(decide(p, 'WriteStdin').rule).toBe('default WriteStreamRequest := false');
    expect(decide(p, 'SetPolicy').rule).toBe('no rule for SetPolicyRequest (denied by default)');
    expect(decide(p, 'CreateContainer').rule).toBe(
      'default CreateContainerRequest := {"ops": [], "allowed": false}, and CreateContainerRequest has rules with bodies (conditional: the agent evaluates them)',
    );
  });
});
