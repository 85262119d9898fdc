// Removing secrets from a GoAPI payload before it is stored or forwarded.

const SECRET_KEY = /secret/i;
const REDACTED = "[redacted]";

/**
 * Values shorter than this are not looked for: "2024" or "https" (a header value read from the
 * environment, a weak token) would blank task ids and image URLs, and lose the event. So short
 * a value protects nothing anyway (README: "Secrets").
 */
export const MIN_SECRET_CHARS = 8;

/**
 * A deep copy of `value` without secrets: every property whose name contains "secret"
 * (v1 echoes `data.config.webhook_config.secret`) is dropped, and any string that contains one
 * of `knownSecrets` (of at least MIN_SECRET_CHARS) is replaced by "[redacted]".
 */
export function removeSecrets(value: unknown, knownSecrets: readonly string[]): unknown {
  return withoutSecrets(
    value,
    knownSecrets.filter((s) => s.length >= MIN_SECRET_CHARS),
  );
}

function withoutSecrets(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === "string") {
    return secrets.some((s) => value.includes(s)) ? REDACTED : value;
  }
  if (Array.isArray(value)) return value.map((item) => withoutSecrets(item, secrets));
  if (typeof value === "object" && value !== null) {
    // fromEntries defines own properties, so even a "__proto__" key is kept as data.
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !SECRET_KEY.test(key))
        .map(([key, item]) => [key, withoutSecrets(item, secrets)]),
    );
  }
  return value;
}
