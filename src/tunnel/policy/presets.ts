/**
 * The three policies the pod VM image ships (`/etc/kata-opa/<name>.rego`, one of them linked as
 * `default-policy.rego`), written out here so the forwarder can use one by name and tests can check
 * them. Each lists every rule the kata-agent consults for `grpc.AgentService` (methods.ts), so that
 * the same text also works unchanged when handed to the agent.
 */
import { AGENT_RULE_NAMES } from './methods.js';
import { POLICY_PACKAGE, PolicyError } from './parse.js';

export const PRESET_NAMES = ['allow-all', 'allow-all-except-exec-process', 'disallow-all-except-setpolicy'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

interface Preset {
  summary: string;
  allows(rule: string): boolean;
}

const PRESETS: Record<PresetName, Preset> = {
  'allow-all': {
    summary: 'Every agent request is allowed (no protection against the host).',
    allows: () => true,
  },
  'allow-all-except-exec-process': {
    summary: 'Every agent request is allowed except ExecProcess (no `kubectl exec` into the pod).',
    allows: (rule) => rule !== 'ExecProcessRequest',
  },
  'disallow-all-except-setpolicy': {
    summary: 'Only SetPolicy is allowed: nothing runs until a policy is set.',
    allows: (rule) => rule === 'SetPolicyRequest',
  },
};

export function isPresetName(name: string): name is PresetName {
  return (PRESET_NAMES as readonly string[]).includes(name);
}

function render(name: PresetName): string {
  const preset = PRESETS[name];
  const lines = [
    `# ${name}: ${preset.summary}`,
    '# Written by the cloud-api-adaptor for the peer-pod VM image; see docs/policy.md.',
    '',
    `package ${POLICY_PACKAGE}`,
    '',
    ...AGENT_RULE_NAMES.map((rule) => `default ${rule} := ${preset.allows(rule)}`),
    '',
  ];
  return lines.join('\n');
}

const texts = new Map<PresetName, string>(PRESET_NAMES.map((n) => [n, render(n)]));

/** The Rego text of a preset. Throws PolicyError (INVALID_POLICY) naming the known presets otherwise. */
export function presetPolicy(name: string): string {
  if (!isPresetName(name)) {
    throw new PolicyError(`unknown policy preset "${name}"; known presets: ${PRESET_NAMES.join(', ')}`);
  }
  return texts.get(name)!;
}
