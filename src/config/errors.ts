import { singleCodeError } from '../util/coded-error.js';

/** Bad configuration: the message names the key and what it accepts. The daemon exits with it. */
export class ConfigError extends singleCodeError('ConfigError', 'INVALID_CONFIG') {}
