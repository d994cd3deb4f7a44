/** Mutual TLS between the daemon and the agent-protocol-forwarder in each pod VM. */
export * from './errors.js';
export * from './certs.js';
export * from './profile.js';
export * from './material.js';
export * from './options.js';
