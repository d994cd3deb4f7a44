/**
 * The fields of the forwarder's `pod-network` configuration in the order the Go forwarder's JSON
 * encoder writes them (its struct's order): the order both our writer and our reader must keep.
 * `vxlan-port` and `vxlan-id` are `omitempty`: left out when 0.
 */
export const POD_NETWORK_FIELDS = [
  'podip',
  'pod-hw-addr',
  'interface',
  'worker-node-ip',
  'tunnel-type',
  'routes',
  'neighbors',
  'mtu',
  'index',
  'vxlan-port',
  'vxlan-id',
  'dedicated',
  'external-net-via-pod-vm',
] as const;

/** POD_NETWORK_FIELDS without the `omitempty` ones, as written when they are 0. */
export const POD_NETWORK_FIELDS_WITHOUT_VXLAN = POD_NETWORK_FIELDS.filter((f) => f !== 'vxlan-port' && f !== 'vxlan-id');
