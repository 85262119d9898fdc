// Standard Webhooks signatures (https://www.standardwebhooks.com).
import { decodeBase64, encodeBase64 } from "../lib/bytes";

const encoder = new TextEncoder();

/**
 * `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the base64-decoded bytes
 * after the `whsec_` prefix: what standard verification libraries check.
 */
export async function signStandardWebhook(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const keyBytes = decodeBase64(secret.slice("whsec_".length));
  if (keyBytes === null) throw new Error("the signing key is not whsec_ and base64");
  const key = await crypto.subtle.importKey(
    "raw",
    keyBytes,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  return `v1,${encodeBase64(mac)}`;
}
