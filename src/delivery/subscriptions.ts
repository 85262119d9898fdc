// The SUBSCRIPTIONS config: parsing, validation with the subscription and field at fault,
// secret resolution and event matching. Pure: also used by `npm run check-config` in Node.
import { z } from "zod";
import { EVENT_TYPES, type EventType } from "../goapi/events";
import { decodeBase64 } from "../lib/bytes";
import { isPrivateAddress, LOOPBACK_HOSTS } from "../lib/net";

const DEFAULT_EVENTS: EventType[] = ["task.created", "task.completed", "task.failed"];
/** Cloudflare Queues allows at most 100 retries per message. */
const MAX_ATTEMPTS_LIMIT = 100;
/** Headers midhook sets itself; a subscription may not override them. */
const RESERVED_HEADERS =
  /^(content-type|content-length|host|user-agent|webhook-.*|x-webhook-secret)$/i;

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

const subscriptionSecret = z
  .string()
  .refine((s) => /^env:[A-Za-z_][A-Za-z0-9_]*$/.test(s) || s.startsWith("whsec_"), {
    message: "must be env:NAME or a whsec_ key",
  });

const subscriptionSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 characters of A-Z a-z 0-9 _ -"),
  url: subscriptionUrl,
  secret: subscriptionSecret,
  events: z.array(z.enum(EVENT_TYPES)).min(1).default(DEFAULT_EVENTS),
  task_types: z.array(z.string().min(1)).min(1).optional(),
  format: z.enum(["midhook", "goapi"]).default("midhook"),
  headers: z
    .record(z.string(), z.string())
    .refine((h) => !Object.keys(h).some((name) => RESERVED_HEADERS.test(name)), {
      message: "must not set content-type, user-agent, webhook-* or x-webhook-secret",
    })
    .default({}),
  max_attempts: z.int().min(1).max(MAX_ATTEMPTS_LIMIT).default(10),
  timeout_ms: z.int().min(1000).max(60_000).default(15_000),
});

export type Subscription = z.infer<typeof subscriptionSchema>;

export type SubscriptionsResult =
  | { ok: true; value: Subscription[] }
  | { ok: false; errors: string[] };

/**
 * Parses SUBSCRIPTIONS (a JSON string, or the array itself when set as a structured var) and
 * checks that every `env:NAME` secret is set to a whsec_ key in `secrets`. Each error names the
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
    const secret = resolveSecret(parsed.data.secret, secrets);
    if (!secret.ok) errors.push(`${label}.secret: ${secret.error}`);
    if (subscriptions.some((s) => s.id === parsed.data.id)) {
      errors.push(`${label}.id: duplicate id`);
    }
    subscriptions.push(parsed.data);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: subscriptions };
}

function labelOf(item: unknown): string {
  if (typeof item === "object" && item !== null && "id" in item && typeof item.id === "string") {
    return ` (${item.id.slice(0, 64)})`;
  }
  return "";
}

/** The whsec_ key a subscription signs with, resolved from `env:NAME` when needed. */
export function resolveSecret(
  reference: string,
  secrets: object,
): { ok: true; value: string } | { ok: false; error: string } {
  if (!reference.startsWith("env:")) return checkKey(reference, "the key");
  const name = reference.slice("env:".length);
  const value: unknown = Reflect.get(secrets, name);
  if (typeof value !== "string" || value === "") {
    return { ok: false, error: `${name} is not set (wrangler secret put ${name})` };
  }
  return checkKey(value, name);
}

/** Standard Webhooks keys are at least 24 random bytes. */
const MIN_KEY_BYTES = 24;

/** A whsec_ key is valid when what follows the prefix decodes as standard base64 to 24+ bytes. */
function checkKey(
  value: string,
  what: string,
): { ok: true; value: string } | { ok: false; error: string } {
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

let memo: { raw: unknown; result: SubscriptionsResult } | null = null;

/**
 * The Worker's subscriptions, parsed once per isolate (SUBSCRIPTIONS and the secrets only change
 * with a deploy, which starts new isolates) and again whenever the raw value differs.
 */
export function subscriptionsOf(env: { SUBSCRIPTIONS?: unknown }): SubscriptionsResult {
  if (memo === null || memo.raw !== env.SUBSCRIPTIONS) {
    memo = { raw: env.SUBSCRIPTIONS, result: parseSubscriptions(env.SUBSCRIPTIONS, env) };
  }
  return memo.result;
}
