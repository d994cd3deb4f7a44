/**
 * The `v1beta1.DevicePlugin` gRPC server on our Unix socket in the kubelet's device-plugin directory.
 * It keeps the open ListAndWatch streams and pushes a new device list to all of them on demand; what
 * the list is, is the owner's business (`currentList`).
 *
 * Binding: the server listens on a short temporary name next to the socket and renames it into place,
 * so a stale socket of ours is replaced in one step and closing the server (libuv unlinks the name it
 * bound) never deletes a socket that a successor (a DaemonSet surge update) put at our path. On close
 * the socket file is removed only if it is still ours.
 */
import { messageOf } from '../../util/errors.js';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import type { Logger } from 'pino';
import {
  DevicePluginOptionsSchema,
  PreStartContainerResponseSchema,
  type DevicePlugin,
  type DevicePluginOptions,
  type Empty,
  type ListAndWatchResponse,
} from '../../proto/gen/deviceplugin/v1beta1/api_pb.js';
import { devicePluginService, untyped, type GrpcServiceImplementation, type MethodsOf } from './grpc-service.js';
import { allocateResponse, preferredAllocation } from './devices.js';
import { DevicePluginError } from './errors.js';
import { checkReplaceable, checkSocketPath, fileIdentity, MAX_UNIX_PATH_BYTES, unlinkIfSame, type FileIdentity } from './socket-file.js';
import { setLongTimeout } from '../../util/timers.js';

/** What the plugin tells the kubelet about itself, in RegisterRequest and GetDevicePluginOptions. */
export function pluginOptions(): DevicePluginOptions {
  // No PreStartContainer work, and any slot is as good as another: the kubelet need not ask either.
  return create(DevicePluginOptionsSchema, { preStartRequired: false, getPreferredAllocationAvailable: false });
}

export interface PluginServerHooks {
  /** The device list as it is now; sent first on every new ListAndWatch stream. */
  currentList(): ListAndWatchResponse;
  /** A ListAndWatch stream ended from the kubelet's side (the kubelet stopped, or dropped us). */
  onStreamClosed?(): void;
  logger: Logger;
}

function bind(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
}

export class PluginServer {
  private readonly server = new Server();
  private readonly streams = new Set<ServerWritableStream<Empty, ListAndWatchResponse>>();
  private closing = false;
  private socketIdentity: FileIdentity | undefined;

  private constructor(
    readonly path: string,
    private readonly hooks: PluginServerHooks,
  ) {
    this.server.addService(devicePluginService, untyped(this.handlers()));
  }

  /**
   * Listens on `path` (creating its directory). Throws INVALID_CONFIG for a path over the Unix limit,
   * LISTEN_FAILED when binding fails; rejects with the signal's reason (and leaves nothing behind)
   * when `signal` aborts.
   */
  static async listen(path: string, hooks: PluginServerHooks, signal?: AbortSignal): Promise<PluginServer> {
    checkSocketPath(path);
    signal?.throwIfAborted();
    const plugin = new PluginServer(path, hooks);
    await plugin.bindSocket();
    if (signal?.aborted) {
      await plugin.close(0);
      throw signal.reason;
    }
    return plugin;
  }

  private async bindSocket(): Promise<void> {
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new DevicePluginError('LISTEN_FAILED', `cannot create the device-plugin directory ${dir}: ${messageOf(err)}`, { cause: err });
    }
    await checkReplaceable(this.path);
    const tmp = join(dir, `.${randomBytes(4).toString('hex')}`);
    try {
      if (Buffer.byteLength(tmp) <= MAX_UNIX_PATH_BYTES) {
        await bind(this.server, tmp);
        await rename(tmp, this.path);
      } else {
        // No room for a temporary name: replace a stale socket the plain way.
        await unlink(this.path).catch(() => undefined);
        await bind(this.server, this.path);
      }
    } catch (err) {
      this.server.forceShutdown();
      await unlink(tmp).catch(() => undefined);
      throw new DevicePluginError('LISTEN_FAILED', `cannot listen on ${this.path}: ${messageOf(err)}`, { cause: err });
    }
    this.socketIdentity = await fileIdentity(this.path);
  }

  /** The identity of the socket file this server created. */
  get identity(): FileIdentity | undefined {
    return this.socketIdentity;
  }

  /** Open ListAndWatch streams. */
  get openStreams(): number {
    return this.streams.size;
  }

  /**
   * What is at our path now: `ours` (the socket this server created), `absent` (deleted: the kubelet
   * does that when it restarts) or `other` (another process put its socket there, e.g. our successor
   * during a DaemonSet surge update).
   */
  async socketState(): Promise<'ours' | 'absent' | 'other'> {
    const now = await fileIdentity(this.path);
    if (now === undefined) return 'absent';
    return now === this.socketIdentity ? 'ours' : 'other';
  }

  /** Writes `list` to every open ListAndWatch stream. */
  broadcast(list: ListAndWatchResponse): void {
    for (const call of this.streams) call.write(list);
  }

  /**
   * Ends every stream, stops the server (waiting up to `graceMs` for calls in flight, then cutting
   * them) and removes our socket file if it is still ours. Idempotent.
   */
  async close(graceMs = 1_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const call of this.streams) call.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setLongTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        timer.clear();
        resolve();
      });
    });
    await unlinkIfSame(this.path, this.socketIdentity);
  }

  private addStream(call: ServerWritableStream<Empty, ListAndWatchResponse>): void {
    if (this.closing) {
      call.end();
      return;
    }
    this.streams.add(call);
    this.hooks.logger.debug({ streams: this.streams.size }, 'kubelet opened ListAndWatch');
    const done = (): void => {
      if (this.streams.delete(call) && !this.closing) this.hooks.onStreamClosed?.();
    };
    call.on('cancelled', done);
    call.on('close', done);
    call.on('error', done);
    call.write(this.hooks.currentList());
  }

  private handlers(): GrpcServiceImplementation<MethodsOf<typeof DevicePlugin>> {
    const log = this.hooks.logger;
    return {
      getDevicePluginOptions: (_call, callback) => callback(null, pluginOptions()),
      listAndWatch: (call) => this.addStream(call),
      getPreferredAllocation: (call, callback) => callback(null, preferredAllocation(call.request)),
      allocate: (call, callback) => {
        log.debug({ containers: call.request.containerRequests.map((c) => c.devicesIds) }, 'Allocate');
        callback(null, allocateResponse(call.request));
      },
      preStartContainer: (_call, callback) => callback(null, create(PreStartContainerResponseSchema)),
    };
  }
}
