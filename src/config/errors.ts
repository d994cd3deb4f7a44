/** Bad configuration: the message names the key and what it accepts. The daemon exits with it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'INVALID_CONFIG';
}
