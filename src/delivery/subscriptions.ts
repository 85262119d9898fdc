// The SUBSCRIPTIONS config: parsing, validation with the subscription and field at fault, the
// resolution of `env:NAME` references (signing keys and header values), and event matching.
// Pure: also used by `npm run check-config` in Node.
import { z } from "zod";
import { EVENT_TYPES, type EventType, MAX_NAME_CHARS } from "../goapi/events";
import { decodeBase64 } from "../lib/bytes";
import { isPrivateAddress, LOOPBACK_HOSTS } from "../lib/net";

const DEFAULT_EVENTS: EventType[] = ["task.created", "task.completed", "task.failed"];
/** Cloudflare Queues allows at most 100 retries per message. */
const MAX_ATTEMPTS_LIMIT = 100;
/** Standard Webhooks keys are at least 24 random bytes. */
const MIN_KEY_BYTES = 24;
/**
 * Headers a subscription may not set: midhook's own, and those that would change how the request
 * itself travels.
 */
const RESERVED_HEADERS =
  /^(content-type|content-length|content-encoding|transfer-encoding|connection|host|user-agent|webhook-.*|x-webhook-secret)$/i;
/** An HTTP token (RFC 9110 §5.6.2), what a header name must be. */
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** CR, LF or NUL: a header value holding one could end or split the request's headers. */
const UNSAFE_HEADER_VALUE = /[\r\n\0]/;
/** The NAME of `env:NAME`: a secret's (an environment variable's) name. */
const SECRET_NAME = "[A-Za-z_][A-Za-z0-9_]*";
/** A key or header value that names a secret instead of holding it. */
const ENV_REFERENCE = new RegExp(`^env:${SECRET_NAME}$`);

/** A subscription's id: it names the subscription in URLs, messages and Durable Objects. */
export const SUBSCRIPTION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/**
 * A header value is a byte string (Fetch standard): a standard fetch refuses a character above
 * U+00FF, and the Workers runtime sends one only as a quirk, warning on every delivery.
 */
const BEYOND_LATIN1 = /[\u0100-\u{10ffff}]/u;
const LATIN1_ONLY =
  "must contain only characters up to U+00FF (Latin-1); percent-encode or base64 anything else";

const subscriptionUrl = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: "custom", message: "is not a URL" });
    return;
  }
  if (url.username !== "" || url.password !== "") {
    ctx.addIssue({ code: "custom", message: "must not carry credentials" });
  }
  const loopback = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    ctx.addIssue({ code: "custom", message: "must be https (http only for localhost)" });
  }
  if (isPrivateAddress(url.hostname)) {
    ctx.addIssue({ code: "custom", message: "must not point at a private or link-local address" });
  }
});

const keyReference = z.string().refine((s) => ENV_REFERENCE.test(s) || s.startsWith("whsec_"), {
  message: "must be env:NAME or a whsec_ key",
});

const headers = z.record(z.string(), z.string()).superRefine((record, ctx) => {
  for (const [name, value] of Object.entries(record)) {
    if (!HTTP_TOKEN.test(name)) {
      ctx.addIssue({ code: "custom", path: [name], message: "is not a valid header name" });
    } else if (RESERVED_HEADERS.test(name)) {
      ctx.addIssue({ code: "custom", path: [name], message: "is set by midhook or the runtime" });
    }
    if (UNSAFE_HEADER_VALUE.test(value)) {
      ctx.addIssue({ code: "custom", path: [name], message: "must not contain CR, LF or NUL" });
    } else if (BEYOND_LATIN1.test(value)) {
      ctx.addIssue({ code: "custom", path: [name], message: LATIN1_ONLY });
    }
  }
});

const subscriptionSchema = z.strictObject({
  id: z.string().regex(SUBSCRIPTION_ID_PATTERN, "must be 1-64 characters of A-Z a-z 0-9 _ -"),
  url: subscriptionUrl,
  /** One key, or several to sign every delivery with each (rotation without a gap). */
  secret: z.union([keyReference, z.array(keyReference).min(1).max(4)]),
  events: z.array(z.enum(EVENT_TYPES)).min(1).default(DEFAULT_EVENTS),
  /** At most MAX_NAME_CHARS each: a task's type is cut to it, so a longer one never matches. */
  task_types: z.array(z.string().min(1).max(MAX_NAME_CHARS)).min(1).optional(),
  format: z.enum(["midhook", "goapi"]).default("midhook"),
  headers: headers.default({}),
  max_attempts: z.int().min(1).max(MAX_ATTEMPTS_LIMIT).default(10),
  timeout_ms: z.int().min(1000).max(60_000).default(15_000),
  /** Failed attempts in a row, across all tasks, that pause the subscription; 0 never does. */
  pause_after_failures: z.int().min(0).max(10_000).default(10),
});

/** A valid subscription, with its `env:` references resolved. */
export type Subscription = z.infer<typeof subscriptionSchema> & {
  /** The whsec_ keys every delivery is signed with, in the configured order. */
  keys: string[];
  /** The extra headers, `env:NAME` values replaced by the secret's value. */
  resolvedHeaders: Record<string, string>;
  /** Header values that came from secrets (never shown, never stored). */
  secretHeaderValues: string[];
};

export type SubscriptionsResult =
  | { ok: true; value: Subscription[] }
  | { ok: false; errors: string[] };

/**
 * Parses SUBSCRIPTIONS (a JSON string, or the array itself when set as a structured var) and
 * resolves every `env:NAME` (keys and header values) from `secrets`. Each error names the
 * subscription and the field, e.g. `subscriptions[0] (gallery).url: must be https`.
 */
export function parseSubscriptions(raw: unknown, secrets: object): SubscriptionsResult {
  let value = raw ?? [];
  if (typeof value === "string") {
    if (value.trim() === "") return { ok: true, value: [] };
    try {
      value = JSON.parse(value);
    } catch {
      return { ok: false, errors: ["SUBSCRIPTIONS: is not valid JSON"] };
    }
  }
  if (!Array.isArray(value)) return { ok: false, errors: ["SUBSCRIPTIONS: must be a JSON array"] };

  const errors: string[] = [];
  const subscriptions: Subscription[] = [];
  value.forEach((item: unknown, index) => {
    const label = `subscriptions[${index}]${labelOf(item)}`;
    const parsed = subscriptionSchema.safeParse(item);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const field = issue.path.length > 0 ? `.${issue.path.join(".")}` : "";
        errors.push(`${label}${field}: ${issue.message}`);
      }
      return;
    }
    const subscription = parsed.data;
    const references = Array.isArray(subscription.secret)
      ? subscription.secret
      : [subscription.secret];
    const keys: string[] = [];
    references.forEach((reference, i) => {
      const key = resolveKey(reference, secrets);
      const field = Array.isArray(subscription.secret) ? `.secret.${i}` : ".secret";
      if (key.ok) keys.push(key.value);
      else errors.push(`${label}${field}: ${key.error}`);
    });
    const resolvedHeaders: Record<string, string> = {};
    const secretHeaderValues: string[] = [];
    for (const [name, raw] of Object.entries(subscription.headers)) {
      if (!ENV_REFERENCE.test(raw)) {
        resolvedHeaders[name] = raw;
        continue;
      }
      const secret = readSecret(raw.slice("env:".length), secrets);
      if (!secret.ok) errors.push(`${label}.headers.${name}: ${secret.error}`);
      else if (UNSAFE_HEADER_VALUE.test(secret.value)) {
        errors.push(`${label}.headers.${name}: ${raw.slice(4)} must not contain CR, LF or NUL`);
      } else if (BEYOND_LATIN1.test(secret.value)) {
        errors.push(`${label}.headers.${name}: ${raw.slice(4)} ${LATIN1_ONLY}`);
      } else {
        resolvedHeaders[name] = secret.value;
        secretHeaderValues.push(secret.value);
      }
    }
    if (subscriptions.some((s) => s.id === subscription.id)) {
      errors.push(`${label}.id: duplicate id`);
    }
    subscriptions.push({ ...subscription, keys, resolvedHeaders, secretHeaderValues });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: subscriptions };
}

/**
 * Every signing key and `env:` header value SUBSCRIPTIONS names that can be read, valid or not:
 * one invalid subscription must not stop midhook removing the other subscriptions' secrets.
 */
export function subscriptionSecrets(raw: unknown, secrets: object): string[] {
  let value = raw;
  if (typeof value === "string") {
    try {
      value = JSON.parse(value);
    } catch {
      return [];
    }
  }
  if (!Array.isArray(value)) return [];
  const found: string[] = [];
  const add = (reference: unknown, literalIsSecret: boolean) => {
    if (typeof reference !== "string") return;
    if (ENV_REFERENCE.test(reference)) {
      const secret = readSecret(reference.slice("env:".length), secrets);
      if (secret.ok) found.push(secret.value);
    } else if (literalIsSecret && reference.startsWith("whsec_") && reference !== "whsec_") {
      found.push(reference);
    }
  };
  for (const item of value) {
    if (typeof item !== "object" || item === null) continue;
    const secret: unknown = Reflect.get(item, "secret");
    for (const reference of Array.isArray(secret) ? secret : [secret]) add(reference, true);
    const headers: unknown = Reflect.get(item, "headers");
    if (typeof headers === "object" && headers !== null) {
      for (const header of Object.values(headers)) add(header, false);
    }
  }
  return found;
}

function labelOf(item: unknown): string {
  if (typeof item === "object" && item !== null && "id" in item && typeof item.id === "string") {
    return ` (${item.id.slice(0, 64)})`;
  }
  return "";
}

type Resolved = { ok: true; value: string } | { ok: false; error: string };

/** The value of secret `name`, or why there is none. */
function readSecret(name: string, secrets: object): Resolved {
  const value: unknown = Reflect.get(secrets, name);
  if (typeof value !== "string" || value === "") {
    return { ok: false, error: `${name} is not set (wrangler secret put ${name})` };
  }
  return { ok: true, value };
}

/** The whsec_ key `reference` names (itself, or the secret of `env:NAME`), checked by decoding. */
function resolveKey(reference: string, secrets: object): Resolved {
  if (!reference.startsWith("env:")) return checkKey(reference, "the key");
  const name = reference.slice("env:".length);
  const secret = readSecret(name, secrets);
  return secret.ok ? checkKey(secret.value, name) : secret;
}

/** A whsec_ key is valid when what follows the prefix decodes as standard base64 to 24+ bytes. */
function checkKey(value: string, what: string): Resolved {
  const bytes = value.startsWith("whsec_") ? decodeBase64(value.slice("whsec_".length)) : null;
  if (bytes === null || bytes.length < MIN_KEY_BYTES) {
    return {
      ok: false,
      error: `${what} must be whsec_ followed by the base64 of at least ${MIN_KEY_BYTES} bytes`,
    };
  }
  return { ok: true, value };
}

/** The subscriptions that want an event of `type` for a task of `taskType`. */
export function matchingSubscriptions(
  subscriptions: readonly Subscription[],
  type: EventType,
  taskType: string,
): Subscription[] {
  return subscriptions.filter(
    (s) =>
      s.events.includes(type) && (s.task_types === undefined || s.task_types.includes(taskType)),
  );
}

/** The sentence saying SUBSCRIPTIONS does not parse, with its `errors` (each names a setting). */
export function invalidSubscriptionsMessage(errors: readonly string[]): string {
  return `SUBSCRIPTIONS is invalid: ${errors.length > 0 ? errors.join("; ") : "unreadable"}`;
}

/**
 * The NAME of every `env:NAME` in SUBSCRIPTIONS (a JSON string, or the array itself): the
 * secrets it reads.
 */
export function referencedSecretNames(raw: unknown): string[] {
  const text = typeof raw === "string" ? raw : JSON.stringify(raw ?? []);
  const references = text.match(new RegExp(`env:${SECRET_NAME}`, "g")) ?? [];
  return references.map((reference) => reference.slice("env:".length));
}

let memo: { raw: unknown; secrets: string; result: SubscriptionsResult } | null = null;

/**
 * The Worker's subscriptions, parsed once per isolate (SUBSCRIPTIONS and the secrets only change
 * with a deploy, which starts new isolates) and again whenever the raw value, or a secret it
 * names, differs.
 */
export function subscriptionsOf(env: { SUBSCRIPTIONS?: unknown }): SubscriptionsResult {
  const raw = env.SUBSCRIPTIONS;
  const secrets = referencedSecretNames(raw)
    .map((name) => String(Reflect.get(env, name) ?? ""))
    .join("\u0000");
  if (memo === null || memo.raw !== raw || memo.secrets !== secrets) {
    memo = { raw, secrets, result: parseSubscriptions(raw, env) };
  }
  return memo.result;
}
