// Reading midhook's settings from the Worker environment (README: "Configuration").
import { parseImageHosts } from "./images/sources";

/** The accepted GoAPI webhook secrets: a comma-separated list, so a secret can be rotated. */
export function webhookSecrets(env: Env): string[] {
  return (env.GOAPI_WEBHOOK_SECRET ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/** The admin API token, or null when the admin API is off. */
export function adminToken(env: Env): string | null {
  const token = env.ADMIN_TOKEN?.trim();
  return token ? token : null;
}

/** The Hono environment type shared by every router. */
export type AppEnv = { Bindings: Env };

/** Image sources and size cap for archiving (SPEC §4). */
export function imageLimits(env: Env): { hosts: string[]; maxBytes: number } {
  const max = Number(env.MAX_IMAGE_BYTES ?? "");
  return {
    hosts: parseImageHosts(env.IMAGE_HOSTS),
    maxBytes: Number.isSafeInteger(max) && max > 0 ? max : DEFAULT_MAX_IMAGE_BYTES,
  };
}

export const DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024;

/** The origin used in archived image URLs: PUBLIC_BASE_URL, else the origin GoAPI called. */
export function publicBaseUrl(env: Env, requestOrigin: string): string {
  const configured = env.PUBLIC_BASE_URL?.trim();
  return (configured ? configured : requestOrigin).replace(/\/+$/, "");
}
