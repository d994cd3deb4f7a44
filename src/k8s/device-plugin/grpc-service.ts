/**
 * grpc-js service definitions built from the generated @bufbuild/protobuf schemas (no proto-loader):
 * each method's path is `/<package>.<Service>/<Method>` as in the .proto, and its (de)serializers are
 * `toBinary`/`fromBinary` of the method's input and output messages.
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import {
  Metadata,
  status,
  type Client,
  type handleBidiStreamingCall,
  type handleClientStreamingCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type MethodDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { DevicePlugin, Registration } from '../../proto/gen/deviceplugin/v1beta1/api_pb.js';

/** A grpc-js service definition keyed by each method's local (lowerCamel) name, typed by its messages. */
export type GrpcServiceDefinition<S extends GenServiceMethods> = {
  readonly [K in keyof S]: MethodDefinition<MessageShape<S[K]['input']>, MessageShape<S[K]['output']>>;
};

type In<M extends GenServiceMethods[string]> = MessageShape<M['input']>;
type Out<M extends GenServiceMethods[string]> = MessageShape<M['output']>;

/** The handlers a grpc-js server needs for a generated service, typed by method kind and messages. */
export type GrpcServiceImplementation<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'unary'
    ? handleUnaryCall<In<S[K]>, Out<S[K]>>
    : S[K]['methodKind'] extends 'server_streaming'
      ? handleServerStreamingCall<In<S[K]>, Out<S[K]>>
      : S[K]['methodKind'] extends 'client_streaming'
        ? handleClientStreamingCall<In<S[K]>, Out<S[K]>>
        : handleBidiStreamingCall<In<S[K]>, Out<S[K]>>;
};

/** The method table of a generated service type. */
export type MethodsOf<T> = T extends GenService<infer S> ? S : never;

/** A typed implementation in the untyped shape `Server.addService` takes. */
export function untyped<S extends GenServiceMethods>(implementation: GrpcServiceImplementation<S>): UntypedServiceImplementation {
  return implementation as unknown as UntypedServiceImplementation;
}

function serializer<D extends DescMessage>(schema: D): (value: MessageShape<D>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

/** The grpc-js definition of a generated service; usable by `Server.addService` and by clients. */
export function grpcServiceDefinition<S extends GenServiceMethods>(service: GenService<S>): GrpcServiceDefinition<S> {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
      responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
      requestSerialize: serializer(method.input) as (value: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
  }
  return definition as GrpcServiceDefinition<S>;
}

/** `v1beta1.Registration`, served by the kubelet. */
export const registrationService = grpcServiceDefinition(Registration);
/** `v1beta1.DevicePlugin`, served by us. */
export const devicePluginService = grpcServiceDefinition(DevicePlugin);

export interface UnaryCallOptions {
  /** Absolute deadline of the call. */
  deadline: Date;
  /** Cancels the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Fail at once when the channel cannot connect (default), or wait for it until the deadline. */
  waitForReady?: boolean;
}

/**
 * One unary call as a promise. Rejects with the grpc-js `ServiceError` (it has `code` and `details`),
 * or with the signal's reason when the signal aborts first.
 */
export function unaryCall<Req, Res>(client: Client, method: MethodDefinition<Req, Res>, request: Req, options: UnaryCallOptions): Promise<Res> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<Res>((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new Metadata({ waitForReady: options.waitForReady ?? false }),
      { deadline: options.deadline },
      (err: ServiceError | null, response?: Res) => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted && (err === null || err.code === status.CANCELLED)) reject(signal.reason);
        else if (err) reject(err);
        else resolve(response as Res);
      },
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** True for a grpc-js call error (a status from the peer or from the channel). */
export function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number' && 'metadata' in err;
}
