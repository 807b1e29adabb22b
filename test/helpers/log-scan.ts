/**
 * What must never appear in a log line: the secrets a test handed out, and anything shaped like
 * a credential or a hash, whoever minted it.
 */
const PATTERNS: Array<[string, RegExp]> = [
  ['API key', /rk_[a-z0-9]{12}_[A-Za-z0-9_-]{8,}/],
  ['bearer token', /bearer\s+(?!realm=)[A-Za-z0-9._~+/-]{8,}/i],
  ['JWT', /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/],
  ['argon2 hash', /\$argon2(?:id|i|d)\$/],
  ['webhook secret', /whsec_[A-Za-z0-9+/=_-]{8,}/],
];

/** Every leak found in `lines`, as "line N: what"; empty when the logs are clean. */
export function findLeaks(lines: readonly string[], secrets: readonly string[]): string[] {
  const leaks: string[] = [];
  lines.forEach((line, i) => {
    // Log lines are JSON: a secret with quotes or backslashes appears escaped.
    for (const secret of secrets) if (secret.length >= 6 && (line.includes(secret) || line.includes(JSON.stringify(secret).slice(1, -1)))) leaks.push(`line ${i + 1}: a secret handed out by the test: ${line.slice(0, 300)}`);
    for (const [what, pattern] of PATTERNS) if (pattern.test(line)) leaks.push(`line ${i + 1}: something shaped like a ${what}: ${line.slice(0, 300)}`);
  });
  return leaks;
}

/** Throws, naming each leak, if any line holds a secret. */
export function assertNoLeaks(lines: readonly string[], secrets: readonly string[], where: string): void {
  const leaks = findLeaks(lines, secrets);
  if (leaks.length > 0) throw new Error(`secrets in the logs of ${where}:\n${leaks.slice(0, 10).join('\n')}`);
}
