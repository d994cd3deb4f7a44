import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { CreateVMRequestSchema, CreateVMResponseSchema, Hypervisor } from '../../../src/proto/gen/hypervisor/hypervisor_pb.js';
import { GetInfoRequestSchema, PodVMInfo } from '../../../src/proto/gen/podvminfo/podvminfo_pb.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('hypervisor.proto field numbers (reference §2.1)', () => {
  it('CreateVMRequest: id=1, annotations=2 (map entries key=1 value=2), networkNamespacePath=3', () => {
    const bytes = toBinary(CreateVMRequestSchema, create(CreateVMRequestSchema, { id: 'x', annotations: { k: '' }, networkNamespacePath: '/n' }));
    // 0a 01 'x' | 12 05 { 0a 01 'k' 12 00 } | 1a 02 '/n'  — an empty map value is still written (12 00), as Go and Rust do.
    expect(hex(bytes)).toBe('0a0178' + '1205' + '0a016b1200' + '1a022f6e');
  });
  it('CreateVMResponse.agentSocketPath=1; GetInfoRequest PodName=1 PodNamespace=2 Wait=3', () => {
    expect(hex(toBinary(CreateVMResponseSchema, create(CreateVMResponseSchema, { agentSocketPath: 'a' })))).toBe('0a0161');
    expect(hex(toBinary(GetInfoRequestSchema, create(GetInfoRequestSchema, { PodName: 'p', PodNamespace: 'n', Wait: true })))).toBe('0a0170' + '12016e' + '1801');
  });
  it('service and method names as the shim calls them', () => {
    expect(Hypervisor.typeName).toBe('hypervisor.Hypervisor');
    expect(Hypervisor.methods.map((m) => m.name)).toEqual(['CreateVM', 'StartVM', 'StopVM', 'Version']);
    expect(PodVMInfo.typeName).toBe('podvminfo.PodVMInfo');
    expect(PodVMInfo.methods.map((m) => m.name)).toEqual(['GetInfo']);
  });
  it('keeps unknown fields from a newer shim through decode and encode', () => {
    // id=1 "x", then field 9 (varint 150) and field 10 (bytes "zz") that this schema does not know.
    const newer = Buffer.from('0a0178' + '489601' + '52027a7a', 'hex');
    const decoded = fromBinary(CreateVMRequestSchema, newer);
    expect(decoded.id).toBe('x');
    expect(hex(toBinary(CreateVMRequestSchema, decoded))).toBe(newer.toString('hex'));
  });
});
