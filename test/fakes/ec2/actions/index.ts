/** The actions the fake speaks; anything else is EC2's `InvalidAction`. */
import { allocateAddress, associateAddress, describeAddresses, disassociateAddress, releaseAddress } from './addresses.js';
import { describeImages, describeInstanceTypes, describeKeyPairs, describeRegions, describeSecurityGroups, describeSubnets } from './catalog.js';
import type { ActionHandler } from './context.js';
import { describeInstances, terminateInstances } from './instances.js';
import { runInstances } from './run-instances.js';

export const ACTIONS: Readonly<Record<string, ActionHandler>> = {
  RunInstances: runInstances,
  DescribeInstances: describeInstances,
  TerminateInstances: terminateInstances,
  DescribeImages: describeImages,
  DescribeInstanceTypes: describeInstanceTypes,
  DescribeSubnets: describeSubnets,
  DescribeSecurityGroups: describeSecurityGroups,
  DescribeKeyPairs: describeKeyPairs,
  DescribeRegions: describeRegions,
  DescribeAddresses: describeAddresses,
  AllocateAddress: allocateAddress,
  AssociateAddress: associateAddress,
  DisassociateAddress: disassociateAddress,
  ReleaseAddress: releaseAddress,
};

export type { ActionContext, ActionHandler } from './context.js';
