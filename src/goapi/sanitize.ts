// Removing secrets from a GoAPI payload before it is stored or forwarded.

const SECRET_KEY = /secret/i;
const REDACTED = "[redacted]";

/**
 * A deep copy of `value` without secrets: every property whose name contains "secret"
 * (v1 echoes `data.config.webhook_config.secret`) is dropped, and any string that contains one
 * of `knownSecrets` is replaced by "[redacted]".
 */
export function removeSecrets(value: unknown, knownSecrets: readonly string[]): unknown {
  if (typeof value === "string") {
    return knownSecrets.some((s) => s !== "" && value.includes(s)) ? REDACTED : value;
  }
  if (Array.isArray(value)) return value.map((item) => removeSecrets(item, knownSecrets));
  if (typeof value === "object" && value !== null) {
    // fromEntries defines own properties, so even a "__proto__" key is kept as data.
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => !SECRET_KEY.test(key))
        .map(([key, item]) => [key, removeSecrets(item, knownSecrets)]),
    );
  }
  return value;
}
