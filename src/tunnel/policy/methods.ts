/**
 * The methods of `grpc.AgentService` (reference §2.4) and the Rego rule the kata-agent consults for
 * each. The agent names the rule after the method's *request message type*
 * (`req.descriptor_dyn().name()` in its rpc.rs), which is `<Method>Request` for most methods but not
 * all: ReadStdout and ReadStderr both take a `ReadStreamRequest`, WriteStdin a `WriteStreamRequest`,
 * GetGuestDetails a `GuestDetailsRequest`, GetVolumeStats a `VolumeStatsRequest`, and the mem-agent
 * methods take `MemAgentMemcgConfig` / `MemAgentCompactConfig`. Upstream's policies (kata-opa
 * `allow-all.rego`, genpolicy's `rules.rego`) use exactly these names.
 */

export const AGENT_SERVICE = 'grpc.AgentService';
export const HEALTH_SERVICE = 'grpc.Health';

/** Method name → the policy rule the kata-agent evaluates for it. */
export const AGENT_METHOD_RULES: Readonly<Record<string, string>> = Object.freeze({
  // execution
  CreateContainer: 'CreateContainerRequest',
  StartContainer: 'StartContainerRequest',
  RemoveContainer: 'RemoveContainerRequest',
  ExecProcess: 'ExecProcessRequest',
  SignalProcess: 'SignalProcessRequest',
  WaitProcess: 'WaitProcessRequest',
  UpdateContainer: 'UpdateContainerRequest',
  UpdateEphemeralMounts: 'UpdateEphemeralMountsRequest',
  StatsContainer: 'StatsContainerRequest',
  PauseContainer: 'PauseContainerRequest',
  ResumeContainer: 'ResumeContainerRequest',
  RemoveStaleVirtiofsShareMounts: 'RemoveStaleVirtiofsShareMountsRequest',
  GetDiagnosticData: 'GetDiagnosticDataRequest',
  // stdio
  WriteStdin: 'WriteStreamRequest',
  ReadStdout: 'ReadStreamRequest',
  ReadStderr: 'ReadStreamRequest',
  CloseStdin: 'CloseStdinRequest',
  TtyWinResize: 'TtyWinResizeRequest',
  // networking
  UpdateInterface: 'UpdateInterfaceRequest',
  UpdateRoutes: 'UpdateRoutesRequest',
  ListInterfaces: 'ListInterfacesRequest',
  ListRoutes: 'ListRoutesRequest',
  AddARPNeighbors: 'AddARPNeighborsRequest',
  GetIPTables: 'GetIPTablesRequest',
  SetIPTables: 'SetIPTablesRequest',
  // observability
  GetMetrics: 'GetMetricsRequest',
  MemAgentMemcgSet: 'MemAgentMemcgConfig',
  MemAgentCompactSet: 'MemAgentCompactConfig',
  // misc
  CreateSandbox: 'CreateSandboxRequest',
  DestroySandbox: 'DestroySandboxRequest',
  OnlineCPUMem: 'OnlineCPUMemRequest',
  ReseedRandomDev: 'ReseedRandomDevRequest',
  GetGuestDetails: 'GuestDetailsRequest',
  MemHotplugByProbe: 'MemHotplugByProbeRequest',
  SetGuestDateTime: 'SetGuestDateTimeRequest',
  CopyFile: 'CopyFileRequest',
  GetOOMEvent: 'GetOOMEventRequest',
  AddSwap: 'AddSwapRequest',
  AddSwapPath: 'AddSwapPathRequest',
  GetVolumeStats: 'VolumeStatsRequest',
  ResizeVolume: 'ResizeVolumeRequest',
  SetPolicy: 'SetPolicyRequest',
});

/** Every `grpc.AgentService` method name, in the order of the proto. */
export const AGENT_METHODS: readonly string[] = Object.freeze(Object.keys(AGENT_METHOD_RULES));

/** Every rule name the agent evaluates, once each, sorted. */
export const AGENT_RULE_NAMES: readonly string[] = Object.freeze([...new Set(Object.values(AGENT_METHOD_RULES))].sort());

const ruleNames = new Set(AGENT_RULE_NAMES);

/**
 * The rule that decides `method`: the table above, else `<method>Request` (a method this table does
 * not know — a newer agent's, or another service's such as the old `grpc.Image/PullImage` — is
 * named the way almost all are).
 */
export function requestRuleName(method: string): string {
  return Object.hasOwn(AGENT_METHOD_RULES, method) ? AGENT_METHOD_RULES[method]! : `${method}Request`;
}

/** Whether a rule name is one the agent consults per request (so its default must be a decision). */
export function isRequestRuleName(name: string): boolean {
  return name.endsWith('Request') || ruleNames.has(name);
}
