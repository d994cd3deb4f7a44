/**
 * The forwarder's decision for one request, from what parse.ts could read statically. It mirrors the
 * kata-agent where the outcome is certain (a rule that is only a default; a rule that does not exist)
 * and lets a request through where the outcome depends on the request's content (a rule with a
 * body), since the agent evaluates that body itself.
 */
import { ALLOW_FAILURES_RULE, type RequestPolicy } from './parse.js';
import { AGENT_SERVICE, HEALTH_SERVICE, requestRuleName } from './methods.js';

export type PolicyDecision =
  | {
      readonly allow: true;
      /** What decided, e.g. `default CreateContainerRequest := true`. */
      readonly rule: string;
      /** True when the rule has bodies: the agent makes the final decision on the request's content. */
      readonly conditional: boolean;
    }
  | {
      readonly allow: false;
      /** What decided, e.g. `default ExecProcessRequest := false`. */
      readonly rule: string;
    };

/**
 * Decides a call to `method` of `service` (default `grpc.AgentService`). `grpc.Health` is always
 * allowed: the shim's health check comes before any SetPolicy, and the agent does not check it either.
 */
export function decide(policy: RequestPolicy, method: string, service: string = AGENT_SERVICE): PolicyDecision {
  if (service === HEALTH_SERVICE) {
    return { allow: true, rule: `${HEALTH_SERVICE} is always allowed`, conditional: false };
  }
  if (policy.allowRequestsFailingPolicy) {
    const statement = policy.defaults.get(ALLOW_FAILURES_RULE)?.statement ?? `default ${ALLOW_FAILURES_RULE} := true`;
    return { allow: true, rule: `${statement} (the agent lets requests that fail the policy through)`, conditional: false };
  }

  const name = requestRuleName(method);
  const def = policy.defaults.get(name);
  const hasBodies = policy.conditionalRules.has(name);

  if (hasBodies) {
    const rule = def
      ? `${def.statement}, and ${name} has rules with bodies (conditional: the agent evaluates them)`
      : `${name} has rules with bodies and no default (conditional: the agent evaluates them)`;
    return { allow: true, rule, conditional: true };
  }
  if (def) {
    return def.value ? { allow: true, rule: def.statement, conditional: false } : { allow: false, rule: def.statement };
  }
  return { allow: false, rule: `no rule for ${name} (denied by default)` };
}
