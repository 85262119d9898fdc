// Reading midhook's settings from the Worker environment (README: "Configuration"). Pure: the
// functions take only the settings they read, so `npm run check-config` runs them in Node.
import { parseSubscriptions, resolveSecret, subscriptionsOf } from "./delivery/subscriptions";
import { parseImageHosts } from "./images/sources";

/** The accepted GoAPI webhook secrets: a comma-separated list, so a secret can be rotated. */
export function webhookSecrets(env: { GOAPI_WEBHOOK_SECRET?: string }): string[] {
  return (env.GOAPI_WEBHOOK_SECRET ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The admin API token, or null when the admin API is off. */
export function adminToken(env: { ADMIN_TOKEN?: string }): string | null {
  const token = env.ADMIN_TOKEN?.trim();
  return token ? token : null;
}

const DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024;

/** MAX_IMAGE_BYTES as a positive whole number; undefined when unset, null when malformed. */
function maxImageBytes(value: string | undefined): number | null | undefined {
  const text = value?.trim() ?? "";
  if (text === "") return undefined;
  const max = Number(text);
  return Number.isSafeInteger(max) && max > 0 ? max : null;
}

/**
 * Every secret value midhook holds that must never be stored or forwarded: the webhook secrets,
 * the admin token and each subscription's signing key.
 */
export function secretsToRemove(env: {
  GOAPI_WEBHOOK_SECRET?: string;
  ADMIN_TOKEN?: string;
  SUBSCRIPTIONS?: unknown;
}): string[] {
  const secrets = [...webhookSecrets(env)];
  const token = adminToken(env);
  if (token !== null) secrets.push(token);
  const subscriptions = subscriptionsOf(env);
  if (subscriptions.ok) {
    for (const subscription of subscriptions.value) {
      const key = resolveSecret(subscription.secret, env);
      if (key.ok) secrets.push(key.value);
    }
  }
  return secrets;
}

/** Image sources and size cap for archiving. */
export function imageLimits(env: { IMAGE_HOSTS?: string; MAX_IMAGE_BYTES?: string }): {
  hosts: string[];
  maxBytes: number;
} {
  return {
    hosts: parseImageHosts(env.IMAGE_HOSTS),
    maxBytes: maxImageBytes(env.MAX_IMAGE_BYTES) ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}

/** The origin used in archived image URLs: PUBLIC_BASE_URL, else the origin GoAPI called. */
export function publicBaseUrl(env: { PUBLIC_BASE_URL?: string }, requestOrigin: string): string {
  const configured = env.PUBLIC_BASE_URL?.trim();
  return (configured ? configured : requestOrigin).replace(/\/+$/, "");
}

/**
 * RETENTION_DAYS as a positive whole number of days; null when unset (keep forever) or malformed
 * (keep forever too: a typo must never erase anything; `npm run check-config` reports it).
 */
export function retentionDays(env: { RETENTION_DAYS?: string }): number | null {
  const text = env.RETENTION_DAYS?.trim() ?? "";
  if (!/^\d{1,6}$/.test(text)) return null;
  const days = Number(text);
  return days > 0 ? days : null;
}

/**
 * Every problem with a configuration (vars and secrets as the Worker would see them), each
 * naming the setting at fault; empty when it is sound. Used by `npm run check-config`.
 */
export function configProblems(env: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const text = (name: string) => {
    const value = env[name];
    return typeof value === "string" ? value : "";
  };
  if (text("GOAPI_WEBHOOK_SECRET").trim() === "") {
    problems.push("GOAPI_WEBHOOK_SECRET: not set; every webhook would be refused with 503");
  }
  if (maxImageBytes(text("MAX_IMAGE_BYTES")) === null) {
    const max = text("MAX_IMAGE_BYTES").trim().slice(0, 20);
    problems.push(`MAX_IMAGE_BYTES: "${max}" is not a positive whole number`);
  }
  for (const host of parseImageHosts(text("IMAGE_HOSTS"))) {
    if (!/^[a-z0-9.-]+(:\d{1,5})?$/.test(host)) {
      problems.push(`IMAGE_HOSTS: "${host.slice(0, 60)}" is not a host or host:port`);
    }
  }
  const base = text("PUBLIC_BASE_URL").trim();
  if (base !== "" && !/^https?:\/\/[^/]+\/?$/.test(base)) {
    problems.push("PUBLIC_BASE_URL: must be an origin such as https://hooks.example.com");
  }
  const retention = text("RETENTION_DAYS").trim();
  if (retention !== "" && retentionDays({ RETENTION_DAYS: retention }) === null) {
    problems.push(
      `RETENTION_DAYS: "${retention.slice(0, 20)}" is not a whole number of days from 1 to 999999; tasks are kept forever`,
    );
  }
  const subscriptions = parseSubscriptions(env.SUBSCRIPTIONS, env);
  if (!subscriptions.ok) problems.push(...subscriptions.errors);
  return problems;
}
