/**
 * A fake kubelet device manager on `<dir>/kubelet.sock`, enough to drive a device plugin the way a
 * real kubelet does: it serves `v1beta1.Registration/Register`, records each request, answers, then
 * dials the plugin's endpoint in the same directory and keeps a ListAndWatch stream open, collecting
 * the device lists it receives. `restart()` behaves like a kubelet restart: everything closed, every
 * socket in the directory deleted (the plugin's too), kubelet.sock created anew.
 *
 * The gRPC paths are spelled out here rather than taken from the code under test, so a wrong package
 * or method name there fails the tests.
 */
import { readdir, lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  credentials,
  status,
  type ClientReadableStream,
  type MethodDefinition,
  type ServerUnaryCall,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import {
  AllocateRequestSchema,
  AllocateResponseSchema,
  ContainerAllocateRequestSchema,
  DevicePluginOptionsSchema,
  EmptySchema,
  ListAndWatchResponseSchema,
  PreferredAllocationRequestSchema,
  PreferredAllocationResponseSchema,
  PreStartContainerRequestSchema,
  PreStartContainerResponseSchema,
  RegisterRequestSchema,
  type AllocateResponse,
  type Device,
  type DevicePluginOptions,
  type Empty,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type PreStartContainerResponse,
  type RegisterRequest,
} from '../../../src/proto/gen/deviceplugin/v1beta1/api_pb.js';
import { waitFor } from '../../helpers/async.js';

function method<I extends DescMessage, O extends DescMessage>(path: string, input: I, output: O, responseStream = false): MethodDefinition<MessageShape<I>, MessageShape<O>> {
  return {
    path,
    requestStream: false,
    responseStream,
    requestSerialize: (m) => Buffer.from(toBinary(input, m)),
    requestDeserialize: (b) => fromBinary(input, b),
    responseSerialize: (m) => Buffer.from(toBinary(output, m)),
    responseDeserialize: (b) => fromBinary(output, b),
  };
}

const REGISTER = method('/v1beta1.Registration/Register', RegisterRequestSchema, EmptySchema);
const PLUGIN = {
  GetDevicePluginOptions: method('/v1beta1.DevicePlugin/GetDevicePluginOptions', EmptySchema, DevicePluginOptionsSchema),
  ListAndWatch: method('/v1beta1.DevicePlugin/ListAndWatch', EmptySchema, ListAndWatchResponseSchema, true),
  GetPreferredAllocation: method('/v1beta1.DevicePlugin/GetPreferredAllocation', PreferredAllocationRequestSchema, PreferredAllocationResponseSchema),
  Allocate: method('/v1beta1.DevicePlugin/Allocate', AllocateRequestSchema, AllocateResponseSchema),
  PreStartContainer: method('/v1beta1.DevicePlugin/PreStartContainer', PreStartContainerRequestSchema, PreStartContainerResponseSchema),
};

export const KUBELET_SOCKET = 'kubelet.sock';

export class FakeKubelet {
  readonly socketPath: string;
  /** Every RegisterRequest received, in order, across restarts (also the refused ones). */
  readonly registrations: RegisterRequest[] = [];
  /** Every device list received on ListAndWatch, in order, across restarts. */
  readonly updates: Device[][] = [];
  /** When set, Register is answered with this error (as a kubelet refusing a plugin). */
  refuse: { code: status; details: string } | undefined;

  private server: Server | undefined;
  private plugin: { client: Client; stream: ClientReadableStream<ListAndWatchResponse>; endpoint: string } | undefined;
  private current: Device[] | undefined;
  private closed = false;

  private constructor(readonly dir: string) {
    this.socketPath = join(dir, KUBELET_SOCKET);
  }

  /** Listens on `<dir>/kubelet.sock`. */
  static async start(dir: string): Promise<FakeKubelet> {
    const kubelet = new FakeKubelet(dir);
    await kubelet.listen();
    return kubelet;
  }

  /** The endpoint (socket file name) of the plugin the kubelet is connected to. */
  get pluginEndpoint(): string | undefined {
    return this.plugin?.endpoint;
  }

  /** The latest device list on the current ListAndWatch stream; undefined before the first one. */
  devices(): Device[] | undefined {
    return this.current;
  }

  /** Resolves with the `n`th registration (1-based) once it has arrived. */
  async waitForRegistration(n = 1, timeoutMs = 5_000): Promise<RegisterRequest> {
    await waitFor(() => this.registrations.length >= n, `registration #${n} at the fake kubelet`, timeoutMs);
    return this.registrations[n - 1]!;
  }

  /** Resolves with the current device list once `pred` holds for it. */
  async waitForDevices(pred: (devices: Device[]) => boolean, timeoutMs = 5_000): Promise<Device[]> {
    await waitFor(() => this.current !== undefined && pred(this.current), 'a device list on ListAndWatch that matches', timeoutMs);
    return this.current!;
  }

  /** Allocate as the kubelet calls it for a pod: one entry of device IDs per container. */
  allocate(containers: ReadonlyArray<readonly string[]>): Promise<AllocateResponse> {
    const request = create(AllocateRequestSchema, {
      containerRequests: containers.map((ids) => create(ContainerAllocateRequestSchema, { devicesIds: [...ids] })),
    });
    return this.call(PLUGIN.Allocate, request);
  }

  getDevicePluginOptions(): Promise<DevicePluginOptions> {
    return this.call(PLUGIN.GetDevicePluginOptions, create(EmptySchema));
  }

  getPreferredAllocation(request: PreferredAllocationRequest): Promise<PreferredAllocationResponse> {
    return this.call(PLUGIN.GetPreferredAllocation, request);
  }

  preStartContainer(ids: readonly string[]): Promise<PreStartContainerResponse> {
    return this.call(PLUGIN.PreStartContainer, create(PreStartContainerRequestSchema, { devicesIds: [...ids] }));
  }

  /** Like a kubelet restart: stop, delete every socket in the directory, listen on a new kubelet.sock. */
  async restart(): Promise<void> {
    await this.shutdown();
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if ((await lstat(path).catch(() => undefined))?.isSocket()) await unlink(path).catch(() => undefined);
    }
    await this.listen();
  }

  /** Like a stopped kubelet: connections closed, kubelet.sock deleted (plugin sockets left alone). */
  async stopServing(): Promise<void> {
    await this.shutdown();
  }

  /** Serves again after stopServing() on a new kubelet.sock, leaving the plugin sockets alone. */
  async serveAgain(): Promise<void> {
    if (this.server) throw new Error('the fake kubelet is serving already');
    await this.listen();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.shutdown();
  }

  private async listen(): Promise<void> {
    if (this.closed) throw new Error('fake kubelet is closed');
    await unlink(this.socketPath).catch(() => undefined);
    const server = new Server();
    server.addService({ Register: REGISTER }, { Register: (call: ServerUnaryCall<RegisterRequest, Empty>, cb: sendUnaryData<Empty>) => this.onRegister(call, cb) });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.server = server;
  }

  private async shutdown(): Promise<void> {
    this.dropPlugin();
    this.current = undefined;
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.forceShutdown();
      await unlink(this.socketPath).catch(() => undefined);
    }
  }

  private onRegister(call: ServerUnaryCall<RegisterRequest, Empty>, cb: sendUnaryData<Empty>): void {
    const req = call.request;
    this.registrations.push(req);
    if (this.refuse) {
      cb({ code: this.refuse.code, details: this.refuse.details });
      return;
    }
    if (req.version !== 'v1beta1') {
      cb({ code: status.INVALID_ARGUMENT, details: `version ${JSON.stringify(req.version)} is not supported` });
      return;
    }
    cb(null, create(EmptySchema));
    // As the kubelet: answer first, then connect to the plugin and watch its devices.
    this.connectPlugin(req.endpoint);
  }

  private connectPlugin(endpoint: string): void {
    this.dropPlugin();
    this.current = undefined;
    const client = new Client(`unix://${join(this.dir, endpoint)}`, credentials.createInsecure());
    const stream = client.makeServerStreamRequest(
      PLUGIN.ListAndWatch.path,
      PLUGIN.ListAndWatch.requestSerialize,
      PLUGIN.ListAndWatch.responseDeserialize,
      create(EmptySchema),
      new Metadata({ waitForReady: true }),
    );
    const plugin = { client, stream, endpoint };
    stream.on('data', (res: ListAndWatchResponse) => {
      if (this.plugin !== plugin) return;
      this.current = res.devices;
      this.updates.push(res.devices);
    });
    stream.on('error', () => undefined); // CANCELLED when we drop it; the plugin going away
    this.plugin = plugin;
  }

  private dropPlugin(): void {
    const p = this.plugin;
    this.plugin = undefined;
    if (!p) return;
    p.stream.cancel();
    p.client.close();
  }

  private call<Req, Res>(m: MethodDefinition<Req, Res>, request: Req): Promise<Res> {
    const plugin = this.plugin;
    if (!plugin) return Promise.reject(new Error('no plugin is registered with the fake kubelet'));
    return new Promise((resolve, reject) => {
      plugin.client.makeUnaryRequest(
        m.path,
        m.requestSerialize,
        m.responseDeserialize,
        request,
        new Metadata(),
        { deadline: new Date(Date.now() + 5_000) },
        (err: ServiceError | null, res?: Res) => (err ? reject(err) : resolve(res as Res)),
      );
    });
  }
}
