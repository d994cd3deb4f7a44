/**
 * Renders docs/configuration.md's option table from the options themselves, so the doc cannot drift:
 * `npx tsx scripts/config-doc.ts > docs/configuration.md`; a unit test compares the two.
 */
import { daemonOptions } from '../src/config/daemon-config.js';
import type { OptionTable } from '../src/config/options.js';
import { DEFAULT_PROVIDER, builtinProviders } from '../src/providers/builtin/index.js';

function table(options: OptionTable, withFlags = true): string {
  const rows = Object.values(options).map((o) => {
    const env = o.env.length ? o.env.map((e) => `\`${e}\``).join(', ') : '—';
    const def = o.flag === 'node-name' ? 'the host name' : o.default === '' ? '""' : `\`${o.default}\``;
    // What the schema accepts (durations and integers carry their bounds), so the doc states the range.
    const accepts = o.schema.description ? `; accepts ${o.schema.description}` : '';
    const meaning = `${o.required ? '**required**; ' : ''}${o.description}${o.secret ? ' (secret: redacted in logs)' : ''}${accepts}`;
    return withFlags ? `| \`--${o.flag}\` | ${env} | ${def} | ${meaning} |` : `| ${env} | ${def} | ${meaning} |`;
  });
  const head = withFlags ? '| Flag | Environment | Default | Meaning |\n|---|---|---|---|' : '| Environment | Default | Meaning |\n|---|---|---|';
  return `${head}\n${rows.join('\n')}`;
}

/** One section per built-in provider, from the option table it registers. */
function providerSections(): string {
  return builtinProviders()
    .list()
    .map((p) => {
      const title = `## Provider \`${p.name}\`${p.name === DEFAULT_PROVIDER ? ' (the default)' : ''}`;
      return `${title}\n\n${p.description}. Flags and environment as for the daemon's own options.\n\n${table(p.options)}`;
    })
    .join('\n\n');
}

export function renderConfigDoc(): string {
  return `# Configuration

Each option is read from its flag, else from its environment variable (upstream's ConfigMap key), else the
default. Booleans accept \`true\`/\`false\`/\`1\`/\`0\` (any case); durations use Go syntax (\`90s\`, \`5m\`,
\`1h30m\`); lists are comma-separated. Any bad value stops the daemon with exit code 2 and a message naming the key.

Durations and numbers are bounded (the range is in each row): a value outside, such as \`PROXY_TIMEOUT=0s\` or
\`PROXY_TIMEOUT=2000h\`, is refused at start rather than accepted and failing later. Exit code 2 also covers an
unknown flag or a flag without its value, and manual TLS files (\`CACERT_FILE\`, \`CERT_FILE\`, \`CERT_KEY\`) or
the webhook's \`WEBHOOK_CERT_FILE\` / \`WEBHOOK_KEY_FILE\` that cannot be read or used; other start-up failures exit
1. The forwarder (\`agent-protocol-forwarder\`) follows the same rule for its flags: \`--agent-wait\` and
\`provision-files --timeout\` accept 1s to 1h, \`--mtu-ceiling\` 68 to 65535.

${table(daemonOptions)}

## Read outside the option tables

| Environment | Set by | Meaning |
|---|---|---|
| \`CLOUD_PROVIDER\` | every overlay's \`peer-pods-cm\` | the provider the DaemonSet runs: \`deploy/image/entrypoint.sh\` runs \`cloud-api-adaptor "\${1:-$CLOUD_PROVIDER}"\` (one of ${builtinProviders().names().map((n) => `\`${n}\``).join(', ')}); the daemon itself takes the provider as its first argument |
| \`POD_UID\` | the DaemonSet (downward API) | the daemon's own pod, recorded in the PODS_DIR lock: a pod that handed PODS_DIR over to its successor does not ask for it back (docs/operations.md, "Rolling updates") |

${providerSections()}

Options that later work acts on (VXLAN, scratch
space, capacity, the external network) are already parsed and validated so that an existing ConfigMap is checked
at start-up.

The daemon refuses a \`PODS_DIR\` whose \`<PODS_DIR>/<64-character id>/agent.ttrpc\` would exceed the 107-byte
limit of Unix socket paths, and a CreateVM whose sandbox id makes the path too long.
`;
}

if (process.argv[1]?.endsWith('config-doc.ts')) process.stdout.write(renderConfigDoc());
