/**
 * The forwarder's request gate (runs inside the pod VM): refuses agent requests that the pod's policy
 * denies before they reach the kata-agent, so that e.g. ExecProcess is refused inside the TEE. The
 * policy comes from initdata (attested), else the image's default policy, else a named preset; a
 * SetPolicy the agent accepted replaces it. See docs/policy.md.
 */
import { messageOf } from '../../util/errors.js';
import { readFile } from 'node:fs/promises';
import { Code, TtrpcError } from '../../ttrpc/codes.js';
import { decide, type PolicyDecision } from './evaluate.js';
import { PolicyError, parsePolicy, type RequestPolicy } from './parse.js';
import { isPresetName, PRESET_NAMES, presetPolicy } from './presets.js';

export { decide, type PolicyDecision } from './evaluate.js';
export {
  ALLOW_FAILURES_RULE,
  POLICY_PACKAGE,
  PolicyError,
  parsePolicy,
  type PolicyDefault,
  type RequestPolicy,
} from './parse.js';
export { isPresetName, PRESET_NAMES, presetPolicy, type PresetName } from './presets.js';
export {
  AGENT_METHOD_RULES,
  AGENT_METHODS,
  AGENT_RULE_NAMES,
  AGENT_SERVICE,
  HEALTH_SERVICE,
  isRequestRuleName,
  requestRuleName,
} from './methods.js';

/** Where process-user-data writes the `policy.rego` entry of the pod's initdata (reference §3.9). */
export const INITDATA_POLICY_PATH = '/run/peerpod/policy.rego';
/** The policy the kata-agent loads when it is given none (the image links one of the presets here). */
export const DEFAULT_POLICY_PATH = '/etc/kata-opa/default-policy.rego';

export interface PolicySources {
  /** Usually INITDATA_POLICY_PATH. Covered by the initdata digest the VM is attested with: preferred. */
  initdataPolicyPath?: string;
  /** Usually DEFAULT_POLICY_PATH: the image's policy. */
  defaultPolicyPath?: string;
  /** A preset name (PRESET_NAMES), used when neither file exists. */
  preset?: string;
}

export type PolicySourceKind = 'initdata' | 'default' | 'preset' | 'text' | 'setpolicy' | 'none';

export interface PolicySource {
  readonly kind: PolicySourceKind;
  /** For logs, e.g. `initdata /run/peerpod/policy.rego` or `preset allow-all`. */
  readonly description: string;
  readonly path?: string;
  readonly preset?: string;
}

const NO_POLICY_WARNING =
  'no policy found (no initdata policy, no default policy file, no preset): every agent request is forwarded';

function isMissing(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The file's text, or undefined when it does not exist. Any other failure is a PolicyError. */
async function readPolicyFile(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw new PolicyError(`cannot read policy ${path}: ${messageOf(err)}`, undefined, { cause: err });
  }
}

function parseFrom(text: string, where: string): RequestPolicy {
  try {
    return parsePolicy(text);
  } catch (err) {
    if (err instanceof PolicyError) throw new PolicyError(`${where}: ${err.message}`, err.line, { cause: err });
    throw err;
  }
}

export class PolicyGate {
  private current: RequestPolicy | undefined;
  private from: PolicySource;

  /** `policy` undefined means no policy at all: every request passes and `warning` says so. */
  constructor(policy: RequestPolicy | undefined, source: PolicySource) {
    this.current = policy;
    this.from = policy ? source : { kind: 'none', description: 'none' };
  }

  /** A gate on a policy text (throws PolicyError when it does not parse). */
  static fromText(regoText: string, source: PolicySource = { kind: 'text', description: 'text' }): PolicyGate {
    return new PolicyGate(parsePolicy(regoText), source);
  }

  static fromPreset(name: string): PolicyGate {
    return new PolicyGate(parsePolicy(presetPolicy(name)), { kind: 'preset', description: `preset ${name}`, preset: name });
  }

  /** No policy: every request passes; `warning` is set for the caller to log. */
  static allowAll(): PolicyGate {
    return new PolicyGate(undefined, { kind: 'none', description: 'none' });
  }

  /**
   * Loads the first source that exists: the initdata policy, then the image's default policy, then
   * the preset. A file that exists but cannot be read or parsed is an error (PolicyError) — falling
   * back to a weaker source would let the host bypass the attested policy. An unknown preset name is
   * an error even when a file is found. With no source at all, the gate allows everything and sets
   * `warning`.
   */
  static async fromSources(sources: PolicySources = {}): Promise<PolicyGate> {
    // A misspelt preset is a configuration error even when a file makes it unnecessary.
    if (sources.preset !== undefined && !isPresetName(sources.preset)) presetPolicy(sources.preset);
    const files: ['initdata' | 'default', string | undefined][] = [
      ['initdata', sources.initdataPolicyPath],
      ['default', sources.defaultPolicyPath],
    ];
    for (const [kind, path] of files) {
      if (!path) continue;
      const text = await readPolicyFile(path);
      if (text === undefined) continue;
      return new PolicyGate(parseFrom(text, `${kind} policy ${path}`), { kind, description: `${kind} ${path}`, path });
    }
    if (sources.preset !== undefined) return PolicyGate.fromPreset(sources.preset);
    return PolicyGate.allowAll();
  }

  /** The policy in force; undefined when there is none (everything allowed). */
  get policy(): RequestPolicy | undefined {
    return this.current;
  }

  /** Where the policy in force came from. */
  get source(): PolicySource {
    return this.from;
  }

  /** Set when no policy is in force; the caller should log it. */
  get warning(): string | undefined {
    return this.current ? undefined : NO_POLICY_WARNING;
  }

  /** Known names for the presets (for flag help texts and errors). */
  static readonly presets: readonly string[] = PRESET_NAMES;

  decide(service: string, method: string): PolicyDecision {
    if (!this.current) return { allow: true, rule: 'no policy in force (every request is allowed)', conditional: false };
    return decide(this.current, method, service);
  }

  /** Returns when the call may be forwarded; throws TtrpcError(PERMISSION_DENIED) naming the rule otherwise. */
  check(service: string, method: string): void {
    const d = this.decide(service, method);
    if (!d.allow) throw new TtrpcError(Code.PERMISSION_DENIED, `${method} is refused by policy: ${d.rule}`);
  }

  /**
   * Follows a SetPolicy the agent accepted. Throws PolicyError and keeps the previous policy when the
   * text does not parse.
   */
  update(regoText: string): RequestPolicy {
    const policy = parseFrom(regoText, 'SetPolicy');
    this.current = policy;
    this.from = { kind: 'setpolicy', description: `SetPolicy (sha256 ${policy.digest.slice(0, 12)})` };
    return policy;
  }
}
