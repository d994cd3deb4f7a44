/**
 * Protobuf messages on top of the byte-level server and client, driven by the service descriptors
 * that `npm run gen` produces. Unknown fields survive a decode/encode round trip (the library keeps them).
 */
import { messageOf } from '../util/errors.js';
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { CallOptions, TtrpcClient } from './client.js';
import { Code, TtrpcError } from './codes.js';
import type { CallContext, Handler, TtrpcServer } from './server.js';

type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  ctx: CallContext,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

export type ServiceImpl<T extends GenServiceMethods> = {
  [K in keyof T]: UnaryImpl<T[K]['input'], T[K]['output']>;
};

function decode<I extends DescMessage>(schema: I, payload: Uint8Array, method: DescMethod): MessageShape<I> {
  try {
    return fromBinary(schema, payload);
  } catch (err) {
    throw new TtrpcError(Code.INVALID_ARGUMENT, `unmarshal ${method.input.typeName} error: ${messageOf(err)}`);
  }
}

/** Registers every method of `service` with `impl`'s function of the same (lower camel case) name. */
export function registerService<T extends GenServiceMethods>(
  server: TtrpcServer,
  service: GenService<T>,
  impl: ServiceImpl<T>,
): void {
  const handlers: Record<string, Handler> = {};
  for (const method of service.methods) {
    const fn = (impl as Record<string, UnaryImpl<DescMessage, DescMessage>>)[method.localName];
    if (!fn) throw new Error(`no implementation for ${service.typeName}/${method.name}`);
    handlers[method.name] = async (payload, ctx) => {
      const request = decode(method.input, payload, method);
      const out = await fn(request, ctx);
      return toBinary(method.output, create(method.output, out));
    };
  }
  server.register(service.typeName, handlers);
}

/** A typed client for one service over an existing connection. */
export type ServiceClient<T extends GenServiceMethods> = {
  [K in keyof T]: (request: MessageInitShape<T[K]['input']>, options?: CallOptions) => Promise<MessageShape<T[K]['output']>>;
};

export function serviceClient<T extends GenServiceMethods>(client: TtrpcClient, service: GenService<T>): ServiceClient<T> {
  const out: Record<string, unknown> = {};
  for (const method of service.methods) {
    out[method.localName] = async (request: MessageInitShape<DescMessage>, options?: CallOptions) => {
      const payload = toBinary(method.input, create(method.input, request));
      const reply = await client.call(service.typeName, method.name, payload, options);
      try {
        return fromBinary(method.output, reply);
      } catch (err) {
        throw new TtrpcError(Code.INTERNAL, `unmarshal ${method.output.typeName} error: ${messageOf(err)}`);
      }
    };
  }
  return out as ServiceClient<T>;
}
