export * from './codes.js';
export * from './envelope.js';
export * from './frame.js';
export * from './client.js';
export * from './server.js';
export * from './typed.js';
export * from './unix-socket.js';
export type { TtrpcLogger } from './logger.js';
export * from './deadline.js';
