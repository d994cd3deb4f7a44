/** The `local` provider has no keys of its own yet. */
export function describeLocalConfig(): Record<string, unknown> {
  return { mode: 'placeholder: instances are records only (no VM, no forwarder) until the agent-tunnel issue' };
}
