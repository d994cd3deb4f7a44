/**
 * Wire compatibility of src/proto/deviceplugin/v1beta1/api.proto with the kubelet (Go, gogo/protobuf):
 * bytes worked out by hand from the upstream field numbers, compared with what the generated code
 * writes and reads, and the gRPC paths the kubelet calls.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import {
  AllocateResponseSchema,
  CDIDeviceSchema,
  ContainerAllocateRequestSchema,
  ContainerAllocateResponseSchema,
  ContainerPreferredAllocationRequestSchema,
  DevicePluginOptionsSchema,
  DeviceSchema,
  ListAndWatchResponseSchema,
  NUMANodeSchema,
  RegisterRequestSchema,
  TopologyInfoSchema,
} from '../../../src/proto/gen/deviceplugin/v1beta1/api_pb.js';
import { devicePluginService, registrationService } from '../../../src/k8s/device-plugin/grpc-service.js';
import { deviceList } from '../../../src/k8s/device-plugin/devices.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ascii = (s: string): string => Buffer.from(s, 'ascii').toString('hex');

describe('device-plugin v1beta1 wire format', () => {
  it('ListAndWatchResponse{devices=1: [Device{ID=1 "peerpod-vm-0", health=2 "Healthy"}]}', () => {
    const device = '0a0c' + '70656572706f642d766d2d30' + '1207' + '4865616c746879'; // 23 bytes
    const expected = '0a17' + device;
    expect(ascii('peerpod-vm-0')).toBe('70656572706f642d766d2d30');
    expect(hex(toBinary(ListAndWatchResponseSchema, deviceList(1, true)))).toBe(expected);
    // What a Go kubelet decodes from exactly these bytes:
    const decoded = fromBinary(ListAndWatchResponseSchema, Buffer.from(expected, 'hex'));
    expect(decoded.devices.map((d) => [d.ID, d.health])).toEqual([['peerpod-vm-0', 'Healthy']]);
  });

  it('Device.topology=3 → TopologyInfo.nodes=1 → NUMANode.ID=1 (int64)', () => {
    const d = create(DeviceSchema, { ID: 'x', health: 'Unhealthy', topology: create(TopologyInfoSchema, { nodes: [create(NUMANodeSchema, { ID: 1n })] }) });
    expect(hex(toBinary(DeviceSchema, d))).toBe('0a0178' + '1209' + ascii('Unhealthy') + '1a04' + '0a020801');
  });

  it('RegisterRequest: version=1, endpoint=2, resource_name=3, options=4 {pre_start_required=1, get_preferred_allocation_available=2}', () => {
    const req = create(RegisterRequestSchema, {
      version: 'v1beta1',
      endpoint: 'p.sock',
      resourceName: 'a/b',
      options: create(DevicePluginOptionsSchema, { preStartRequired: true, getPreferredAllocationAvailable: true }),
    });
    expect(hex(toBinary(RegisterRequestSchema, req))).toBe('0a07' + ascii('v1beta1') + '1206' + ascii('p.sock') + '1a03' + ascii('a/b') + '2204' + '0801' + '1001');
  });

  it('AllocateRequest/Response: container_requests=1 {devices_ids=1}, container_responses=1; an empty answer per container', () => {
    const req = create(ContainerAllocateRequestSchema, { devicesIds: ['a', 'b'] });
    expect(hex(toBinary(ContainerAllocateRequestSchema, req))).toBe('0a0161' + '0a0162');
    const res = create(AllocateResponseSchema, { containerResponses: [create(ContainerAllocateResponseSchema), create(ContainerAllocateResponseSchema)] });
    expect(hex(toBinary(AllocateResponseSchema, res))).toBe('0a00' + '0a00');
  });

  it('ContainerAllocateResponse keeps envs=1, annotations=4 and cdi_devices=5 of a newer kubelet API', () => {
    const res = create(ContainerAllocateResponseSchema, { envs: { A: '1' }, annotations: { k: 'v' }, cdiDevices: [create(CDIDeviceSchema, { name: 'v/g=0' })] });
    expect(hex(toBinary(ContainerAllocateResponseSchema, res))).toBe('0a06' + '0a0141' + '120131' + '2206' + '0a016b' + '120176' + '2a07' + '0a05' + ascii('v/g=0'));
  });

  it('ContainerPreferredAllocationRequest: available_deviceIDs=1, must_include_deviceIDs=2, allocation_size=3', () => {
    const bytes = Buffer.from('0a0161' + '0a0162' + '120162' + '1801', 'hex');
    const decoded = fromBinary(ContainerPreferredAllocationRequestSchema, bytes);
    expect([decoded.availableDeviceIDs, decoded.mustIncludeDeviceIDs, decoded.allocationSize]).toEqual([['a', 'b'], ['b'], 1]);
  });

  it('keeps fields it does not know through decode and encode (a newer kubelet)', () => {
    const newer = Buffer.from('0a0178' + '1207' + ascii('Healthy') + '2a0201ff' + '4805', 'hex'); // fields 5 (bytes) and 9 (varint)
    const d = fromBinary(DeviceSchema, newer);
    expect(d.ID).toBe('x');
    expect(hex(toBinary(DeviceSchema, d))).toBe(newer.toString('hex'));
  });

  it('uses the gRPC paths the kubelet calls and serves ListAndWatch as a server stream', () => {
    expect(registrationService.register.path).toBe('/v1beta1.Registration/Register');
    expect(Object.values(devicePluginService).map((m) => [m.path, m.requestStream, m.responseStream])).toEqual([
      ['/v1beta1.DevicePlugin/GetDevicePluginOptions', false, false],
      ['/v1beta1.DevicePlugin/ListAndWatch', false, true],
      ['/v1beta1.DevicePlugin/GetPreferredAllocation', false, false],
      ['/v1beta1.DevicePlugin/Allocate', false, false],
      ['/v1beta1.DevicePlugin/PreStartContainer', false, false],
    ]);
    const list = deviceList(2, false);
    const bytes = devicePluginService.listAndWatch.responseSerialize(list);
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(devicePluginService.listAndWatch.responseDeserialize(bytes).devices.map((d) => d.health)).toEqual(['Unhealthy', 'Unhealthy']);
  });
});
