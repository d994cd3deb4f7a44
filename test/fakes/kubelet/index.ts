/**
 * Fake kubelet device manager for device-plugin tests.
 *
 *   const kubelet = await FakeKubelet.start(dir);          // serves <dir>/kubelet.sock
 *   … start the plugin with pluginDir = dir …
 *   const reg = await kubelet.waitForRegistration();      // RegisterRequest
 *   await kubelet.waitForDevices((d) => d.length === 3);  // the plugin's ListAndWatch list
 *   await kubelet.restart();                              // deletes kubelet.sock and the plugin's socket
 *   await kubelet.close();
 */
export { FakeKubelet, KUBELET_SOCKET } from './fake-kubelet.js';
