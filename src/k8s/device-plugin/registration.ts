/**
 * One Register call to the kubelet (`v1beta1.Registration/Register` on kubelet.sock), with the outcome
 * classified: KUBELET_UNAVAILABLE (no socket, nobody accepting), REGISTER_TIMEOUT (no answer before the
 * deadline), REGISTRATION_REJECTED (the kubelet answered with an error). Retrying is the caller's call.
 */
import { Client, credentials, status } from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { RegisterRequestSchema, type DevicePluginOptions, type RegisterRequest } from '../../proto/gen/deviceplugin/v1beta1/api_pb.js';
import { DEVICE_PLUGIN_API_VERSION } from './devices.js';
import { DevicePluginError } from './errors.js';
import { isServiceError, registrationService, unaryCall } from './grpc-service.js';
import { fileIdentity } from './socket-file.js';

export function registerRequest(endpoint: string, resourceName: string, options: DevicePluginOptions): RegisterRequest {
  return create(RegisterRequestSchema, { version: DEVICE_PLUGIN_API_VERSION, endpoint, resourceName, options });
}

export interface RegisterOptions {
  /** Absolute path of kubelet.sock. */
  kubeletSocket: string;
  request: RegisterRequest;
  timeoutMs: number;
  /** Cancels the call; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/**
 * Registers once. Resolves when the kubelet accepted; rejects with a DevicePluginError (see the module
 * comment) or with the signal's reason. Safe to call concurrently (each call has its own channel).
 */
export async function registerWithKubelet(options: RegisterOptions): Promise<void> {
  const { kubeletSocket, signal } = options;
  signal?.throwIfAborted();
  if ((await fileIdentity(kubeletSocket)) === undefined) {
    throw new DevicePluginError('KUBELET_UNAVAILABLE', `${kubeletSocket} does not exist (is the kubelet running, and the device-plugin directory mounted?)`);
  }
  // A channel per attempt: nothing to go stale when the kubelet restarts and recreates its socket.
  const client = new Client(`unix://${kubeletSocket}`, credentials.createInsecure());
  try {
    await unaryCall(client, registrationService.register, options.request, { deadline: new Date(Date.now() + options.timeoutMs), signal });
  } catch (err) {
    if (signal?.aborted || !isServiceError(err)) throw err;
    if (err.code === status.UNAVAILABLE) {
      throw new DevicePluginError('KUBELET_UNAVAILABLE', `the kubelet does not answer on ${kubeletSocket}: ${err.details}`, { cause: err });
    }
    if (err.code === status.DEADLINE_EXCEEDED) {
      throw new DevicePluginError('REGISTER_TIMEOUT', `the kubelet did not answer Register within ${options.timeoutMs} ms`, { cause: err });
    }
    throw new DevicePluginError('REGISTRATION_REJECTED', `the kubelet refused the registration of ${options.request.resourceName}: ${status[err.code]} ${err.details}`, {
      cause: err,
    });
  } finally {
    client.close();
  }
}
