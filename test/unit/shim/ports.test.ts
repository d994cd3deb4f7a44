/** The contract helpers of the shim's ports (src/shim/ports.ts) against the adapters that implement them. */
import { describe, expect, it } from 'vitest';
import { POD_NETNS_IS_HOST, isHostNetnsRefusal } from '../../../src/shim/ports.js';
import { NetnsError, NetnsErrorCode } from '../../../src/tunnel/netns/index.js';

describe('isHostNetnsRefusal', () => {
  it("recognises the pod network's refusal of the host namespace by its code", () => {
    expect(NetnsErrorCode.POD_NETNS_IS_HOST).toBe(POD_NETNS_IS_HOST);
    expect(isHostNetnsRefusal(new NetnsError(NetnsErrorCode.POD_NETNS_IS_HOST, 'host'))).toBe(true);
  });

  it('is false for other pod network failures and for things that are not errors', () => {
    expect(isHostNetnsRefusal(new NetnsError(NetnsErrorCode.POD_NETNS_NOT_FOUND, 'gone'))).toBe(false);
    expect(isHostNetnsRefusal(new Error('POD_NETNS_IS_HOST'))).toBe(false);
    expect(isHostNetnsRefusal({ code: POD_NETNS_IS_HOST })).toBe(false);
    expect(isHostNetnsRefusal(undefined)).toBe(false);
  });
});
