import { describe, expect, it } from 'vitest';
import { flagsByName, loadWebhookConfig, webhookOptions } from '../../../src/webhook/config.js';

describe('webhook configuration', () => {
  it('defaults: kata-remote, kata.peerpods.io/vm, port 8443, the cert-manager mount', () => {
    expect(loadWebhookConfig({ flags: {}, env: {} })).toEqual({
      targetRuntimeClass: 'kata-remote',
      podVmExtendedResource: 'kata.peerpods.io/vm',
      port: 8443,
      host: '',
      certFile: '/etc/webhook/certs/tls.crt',
      keyFile: '/etc/webhook/certs/tls.key',
      logLevel: 'info',
    });
  });

  it('reads the environment names, flags win', () => {
    const env = { TARGET_RUNTIMECLASS: 'kata-remote-snp', POD_VM_EXTENDED_RESOURCE: 'example.com/vm', WEBHOOK_PORT: '9443', WEBHOOK_CERT_FILE: '/c/tls.crt', WEBHOOK_KEY_FILE: '/c/tls.key', LOG_LEVEL: 'debug' };
    expect(loadWebhookConfig({ flags: {}, env })).toMatchObject({ targetRuntimeClass: 'kata-remote-snp', podVmExtendedResource: 'example.com/vm', port: 9443, certFile: '/c/tls.crt', keyFile: '/c/tls.key', logLevel: 'debug' });
    expect(loadWebhookConfig({ flags: { 'webhook-port': '10443' }, env }).port).toBe(10443);
    expect(Object.values(webhookOptions).map((o) => o.env[0])).toEqual([
      'TARGET_RUNTIMECLASS', 'POD_VM_EXTENDED_RESOURCE', 'WEBHOOK_PORT', 'WEBHOOK_HOST', 'WEBHOOK_CERT_FILE', 'WEBHOOK_KEY_FILE', 'LOG_LEVEL',
    ]);
  });

  it('names every bad key at once', () => {
    const env = { TARGET_RUNTIMECLASS: 'Kata_Remote', POD_VM_EXTENDED_RESOURCE: 'vm', WEBHOOK_PORT: '70000', WEBHOOK_CERT_FILE: 'tls.crt' };
    expect(() => loadWebhookConfig({ flags: {}, env })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIG',
        message: expect.stringMatching(/TARGET_RUNTIMECLASS[\s\S]*POD_VM_EXTENDED_RESOURCE[\s\S]*WEBHOOK_PORT[\s\S]*WEBHOOK_CERT_FILE \/ --webhook-cert-file = "tls.crt".*absolute path/),
      }),
    );
    expect(() => loadWebhookConfig({ flags: {}, env: { POD_VM_EXTENDED_RESOURCE: 'kubernetes.io/vm' } })).toThrow(/outside kubernetes\.io/);
  });

  it('maps commander camelCase options back to flag names, keeping only given ones', () => {
    expect(flagsByName(webhookOptions, { webhookPort: '1', logLevel: 'warn', verify: true, targetRuntimeclass: undefined })).toEqual({ 'webhook-port': '1', 'log-level': 'warn' });
  });
});
