/**
 * Go `time.ParseDuration` syntax (`5m`, `1h30m`, `300ms`, `1.5s`), which upstream's ConfigMap values
 * such as PROXY_TIMEOUT use. Returns milliseconds.
 */
const units: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new Error(`invalid duration "${text}" (examples: 90s, 5m, 1h30m)`);
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos === 0) throw new Error(`invalid duration "${text}" (examples: 90s, 5m, 1h30m)`);
  return total;
}

export function formatDuration(ms: number): string {
  if (ms % 3600e3 === 0 && ms > 0) return `${ms / 3600e3}h`;
  if (ms % 60e3 === 0 && ms > 0) return `${ms / 60e3}m`;
  if (ms % 1e3 === 0) return `${ms / 1e3}s`;
  return `${ms}ms`;
}
