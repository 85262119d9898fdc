// Reading midhook's settings from the Worker environment (README: "Configuration"). The
// functions take only the settings they read, so `npm run check-config` runs them in Node; a
// setting refused at run time is logged once per isolate.
import { parseSubscriptions, subscriptionSecrets, subscriptionsOf } from "./delivery/subscriptions";
import { MIN_SECRET_CHARS } from "./goapi/sanitize";
import { parseImageHosts } from "./images/sources";
import { isPrivateAddress, LOOPBACK_HOSTS } from "./lib/net";

/** The accepted GoAPI webhook secrets: a comma-separated list, so a secret can be rotated. */
export function webhookSecrets(env: { GOAPI_WEBHOOK_SECRET?: string }): string[] {
  return (env.GOAPI_WEBHOOK_SECRET ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

/**
 * The value .dev.vars.example gives ADMIN_TOKEN. Anyone can read it, so it opens the admin API
 * and the console only to requests whose host is localhost, 127.0.0.1 or [::1] (see
 * exampleTokenRefusal). On Cloudflare only the Worker's own host names reach it; a local server
 * exposed to others (`--ip 0.0.0.0`, a tunnel that rewrites the host) must not use it.
 */
export const EXAMPLE_ADMIN_TOKEN = "dev-admin-token";

/** Why `token` is refused to a request not to this machine (the example value), or null. */
export function exampleTokenRefusal(token: string): string | null {
  return token === EXAMPLE_ADMIN_TOKEN
    ? "ADMIN_TOKEN is the example value from .dev.vars.example, which anyone can read: set your own (wrangler secret put ADMIN_TOKEN)"
    : null;
}

/** The admin API token, or null when the admin API is off. */
export function adminToken(env: { ADMIN_TOKEN?: string }): string | null {
  const token = env.ADMIN_TOKEN?.trim();
  return token ? token : null;
}

const DEFAULT_MAX_IMAGE_BYTES = 50 * 1024 * 1024;

/** RECONCILE_AFTER_SECONDS and RECONCILE_GIVE_UP_SECONDS, read whether or not polling is on. */
export interface PollSettings {
  /** Poll a task that has been silent this long (ms) … */
  reconcileAfterMs: number;
  /** … until this long (ms) after its first event. */
  giveUpAfterMs: number;
}

/** How midhook reaches GoAPI's task API, or null when submission and reconciliation are off. */
export interface GoapiApi extends PollSettings {
  base: string;
  key: string;
}

const DEFAULT_GOAPI_API_BASE = "https://api.goapi.ai";

const GOAPI_API_BASE_RULE =
  "GOAPI_API_BASE: must be an https origin such as https://api.goapi.ai, at a public address (http only for localhost)";

const PUBLIC_BASE_URL_RULE =
  "PUBLIC_BASE_URL: must be an https origin such as https://hooks.example.com (http only for localhost)";

/** The last value of each setting refused, so that a refused value is logged once, not per call. */
const refused = new Map<string, string>();

/** Says once per value that `rule` refused it, and what midhook does instead. */
function warnRefusedOnce(rule: string, value: string, instead: string): void {
  if (refused.get(rule) === value) return;
  refused.set(rule, value);
  console.warn(`${rule}; ${instead}`);
}

/**
 * GOAPI_API_KEY and the settings that go with it; null while the key is unset, and while
 * GOAPI_API_BASE is not an origin the key may be sent to (see apiBaseOf: https at a public
 * address or loopback, or http to a loopback host).
 */
export function goapiApi(env: {
  GOAPI_API_KEY?: string;
  GOAPI_API_BASE?: string;
  RECONCILE_AFTER_SECONDS?: string;
  RECONCILE_GIVE_UP_SECONDS?: string;
}): GoapiApi | null {
  const key = env.GOAPI_API_KEY?.trim();
  if (!key) return null;
  const given = env.GOAPI_API_BASE?.trim() || DEFAULT_GOAPI_API_BASE;
  const base = apiBaseOf(given);
  if (base === null) {
    warnRefusedOnce(GOAPI_API_BASE_RULE, given, "submission and reconciliation are off");
    return null;
  }
  return { base, key, ...pollSettings(env) };
}

/** How silent tasks are polled (see PollSettings); the defaults where a value is unset or bad. */
export function pollSettings(env: {
  RECONCILE_AFTER_SECONDS?: string;
  RECONCILE_GIVE_UP_SECONDS?: string;
}): PollSettings {
  return {
    reconcileAfterMs: (positiveInteger(env.RECONCILE_AFTER_SECONDS) ?? 600) * 1000,
    giveUpAfterMs: (positiveInteger(env.RECONCILE_GIVE_UP_SECONDS) ?? 86_400) * 1000,
  };
}

/** `value` as a positive whole number; undefined when unset, null when malformed. */
function positiveInteger(value: string | undefined): number | null | undefined {
  const text = value?.trim() ?? "";
  if (text === "") return undefined;
  const number = Number(text);
  return Number.isSafeInteger(number) && number > 0 ? number : null;
}

/** Why goapiApi(env) is null: the setting at fault, in a sentence for the 503 that says so. */
export function goapiApiOffReason(env: { GOAPI_API_KEY?: string }): string {
  return env.GOAPI_API_KEY?.trim() ? GOAPI_API_BASE_RULE : "GOAPI_API_KEY is not set";
}

/**
 * Every secret value midhook holds that must never be stored or forwarded: the webhook secrets,
 * the admin token, the GoAPI API key, and each subscription's signing keys and secret headers.
 */
export function secretsToRemove(env: {
  GOAPI_WEBHOOK_SECRET?: string;
  ADMIN_TOKEN?: string;
  GOAPI_API_KEY?: string;
  SUBSCRIPTIONS?: unknown;
}): string[] {
  const secrets = [...webhookSecrets(env)];
  const token = adminToken(env);
  if (token !== null) secrets.push(token);
  const apiKey = env.GOAPI_API_KEY?.trim();
  if (apiKey) secrets.push(apiKey);
  const subscriptions = subscriptionsOf(env);
  if (subscriptions.ok) {
    for (const subscription of subscriptions.value) {
      secrets.push(...subscription.keys, ...subscription.secretHeaderValues);
    }
  } else {
    secrets.push(...subscriptionSecrets(env.SUBSCRIPTIONS, env));
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
    maxBytes: positiveInteger(env.MAX_IMAGE_BYTES) ?? DEFAULT_MAX_IMAGE_BYTES,
  };
}

/**
 * The origin used in archived image URLs and in the webhook endpoint a submission gives GoAPI:
 * PUBLIC_BASE_URL when it is an origin by the rule check-config applies, else the origin GoAPI
 * called (a malformed value would make every image URL and that endpoint unusable).
 */
export function publicBaseUrl(env: { PUBLIC_BASE_URL?: string }, requestOrigin: string): string {
  const configured = env.PUBLIC_BASE_URL?.trim();
  const origin = configured ? originOf(configured) : null;
  if (origin !== null) return origin;
  if (configured) warnRefusedOnce(PUBLIC_BASE_URL_RULE, configured, "using the origin called");
  return requestOrigin.replace(/\/+$/, "");
}

/**
 * GoAPI's API origin as `value` names it (see originOf), or null; never an address that is not
 * public (the API key goes there), loopback excepted for local use.
 */
function apiBaseOf(value: string): string | null {
  const origin = originOf(value);
  return origin === null || isPrivateAddress(new URL(origin).hostname) ? null : origin;
}

/**
 * The origin `value` names, as the URL parser reads it, when it is nothing but an https origin
 * (or http to a loopback host, for local use); else null.
 */
function originOf(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  // Nothing but scheme, host and port: no path, credentials, query or fragment (even empty).
  const plain =
    url.pathname === "/" && url.username === "" && url.password === "" && !/[?#]/.test(value);
  const allowed =
    url.protocol === "https:" || (url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
  return plain && allowed ? url.origin : null;
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
 * Why the copy could never fetch from IMAGE_HOSTS entry `host` (see isAllowedImageUrl), or null:
 * it is not a host or host:port, its address is not public, or it is an IPv6 literal written
 * otherwise than a URL writes it (the copy compares the URL's own form).
 */
function imageHostProblem(host: string): string | null {
  if (!/^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/.test(host)) return "is not a host or host:port";
  let hostname: string;
  try {
    hostname = new URL(`https://${host}/`).hostname;
  } catch {
    return "is not a host or host:port";
  }
  if (isPrivateAddress(hostname))
    return "is not a public address; images are never fetched from it";
  if (host.startsWith("[") && !host.startsWith(hostname)) return `is written ${hostname} in a URL`;
  return null;
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
  const secrets: Array<[string, string[]]> = [
    [
      "GOAPI_WEBHOOK_SECRET",
      webhookSecrets({ GOAPI_WEBHOOK_SECRET: text("GOAPI_WEBHOOK_SECRET") }),
    ],
    ["ADMIN_TOKEN", [adminToken({ ADMIN_TOKEN: text("ADMIN_TOKEN") }) ?? ""]],
    ["GOAPI_API_KEY", [text("GOAPI_API_KEY").trim()]],
  ];
  for (const [name, values] of secrets) {
    if (values.some((v) => v !== "" && v.length < MIN_SECRET_CHARS)) {
      problems.push(
        `${name}: a value is shorter than ${MIN_SECRET_CHARS} characters: easy to guess, and midhook would not remove it from payloads; use a long random one`,
      );
    }
  }
  for (const name of ["MAX_IMAGE_BYTES", "RECONCILE_AFTER_SECONDS", "RECONCILE_GIVE_UP_SECONDS"]) {
    if (positiveInteger(text(name)) === null) {
      problems.push(`${name}: "${text(name).trim().slice(0, 20)}" is not a positive whole number`);
    }
  }
  const apiBase = text("GOAPI_API_BASE").trim();
  if (apiBase !== "" && apiBaseOf(apiBase) === null) problems.push(GOAPI_API_BASE_RULE);
  for (const host of parseImageHosts(text("IMAGE_HOSTS"))) {
    const problem = imageHostProblem(host);
    if (problem !== null) problems.push(`IMAGE_HOSTS: "${host.slice(0, 60)}" ${problem}`);
  }
  const base = text("PUBLIC_BASE_URL").trim();
  if (base !== "" && originOf(base) === null) problems.push(PUBLIC_BASE_URL_RULE);
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
