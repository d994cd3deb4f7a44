/**
 * One Register attempt against what a node can have at kubelet.sock: nothing, a dead socket, a
 * kubelet that never answers, one that refuses; and cancellation.
 */
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { EmptySchema, type Empty, type RegisterRequest } from '../../../src/proto/gen/deviceplugin/v1beta1/api_pb.js';
import { registrationService } from '../../../src/k8s/device-plugin/grpc-service.js';
import { pluginOptions } from '../../../src/k8s/device-plugin/plugin-server.js';
import { registerRequest, registerWithKubelet } from '../../../src/k8s/device-plugin/registration.js';
import { isDevicePluginError } from '../../../src/k8s/device-plugin/errors.js';
import { rejectionOf } from '../../helpers/async.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dpr-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A Registration server whose Register handler is `handler`. */
async function kubelet(path: string, handler: (call: ServerUnaryCall<RegisterRequest, Empty>, cb: sendUnaryData<Empty>) => void): Promise<void> {
  const server = new Server();
  server.addService(registrationService, { register: handler });
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix://${path}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  cleanups.push(async () => server.forceShutdown());
}

const request = registerRequest('peerpods-vm.sock', 'kata.peerpods.io/vm', pluginOptions());

describe('registerWithKubelet', () => {
  it('sends the request and resolves when the kubelet answers', async () => {
    const dir = await tempDir();
    const seen: RegisterRequest[] = [];
    await kubelet(join(dir, 'kubelet.sock'), (call, cb) => {
      seen.push(call.request);
      cb(null, create(EmptySchema));
    });
    await registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 2_000 });
    expect(seen.map((r) => [r.version, r.endpoint, r.resourceName])).toEqual([['v1beta1', 'peerpods-vm.sock', 'kata.peerpods.io/vm']]);
  });

  it('KUBELET_UNAVAILABLE when kubelet.sock does not exist', async () => {
    const dir = await tempDir();
    const err = await rejectionOf(registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 2_000 }));
    expect(isDevicePluginError(err, 'KUBELET_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toContain('does not exist');
  });

  it('KUBELET_UNAVAILABLE, quickly, when kubelet.sock is a dead socket (connection refused)', async () => {
    const dir = await tempDir();
    // Bind under another name and move it into place: closing unlinks the old name, the socket stays dead.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'x'), resolve));
    await rename(join(dir, 'x'), join(dir, 'kubelet.sock'));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const started = Date.now();
    const err = await rejectionOf(registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 5_000 }));
    expect(isDevicePluginError(err, 'KUBELET_UNAVAILABLE')).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('REGISTER_TIMEOUT when the kubelet never answers', async () => {
    const dir = await tempDir();
    await kubelet(join(dir, 'kubelet.sock'), () => undefined);
    const err = await rejectionOf(registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 200 }));
    expect(isDevicePluginError(err, 'REGISTER_TIMEOUT')).toBe(true);
  });

  it('REGISTRATION_REJECTED with the kubelet status when it refuses', async () => {
    const dir = await tempDir();
    await kubelet(join(dir, 'kubelet.sock'), (_call, cb) => cb({ code: status.UNKNOWN, details: 'version v1beta1 is not supported' }));
    const err = await rejectionOf(registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 2_000 }));
    expect(isDevicePluginError(err, 'REGISTRATION_REJECTED')).toBe(true);
    expect((err as Error).message).toMatch(/UNKNOWN version v1beta1 is not supported/);
  });

  it('rejects with the signal reason when cancelled mid-call', async () => {
    const dir = await tempDir();
    await kubelet(join(dir, 'kubelet.sock'), () => undefined);
    const ac = new AbortController();
    const p = registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 10_000, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('shutting down')), 50);
    expect(await rejectionOf(p)).toMatchObject({ message: 'shutting down' });
    expect(await rejectionOf(registerWithKubelet({ kubeletSocket: join(dir, 'kubelet.sock'), request, timeoutMs: 10_000, signal: ac.signal }))).toMatchObject({
      message: 'shutting down',
    });
  });
});
