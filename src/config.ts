// Reading midhook's settings from the Worker environment (README: "Configuration").

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
