// Constant-time comparisons: a presented secret against the configured ones, and a presented
// token against the one expected.
const encoder = new TextEncoder();

async function sha256(value: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", encoder.encode(value));
}

/**
 * True when `presented` equals one of `secrets`. Both sides are hashed first so the
 * comparison is over equal-length digests (no length leak), and every secret is compared
 * (no early exit revealing which one matched).
 */
export async function matchesAnySecret(
  presented: string,
  secrets: readonly string[],
): Promise<boolean> {
  const got = await sha256(presented);
  let matched = false;
  for (const secret of secrets) {
    if (crypto.subtle.timingSafeEqual(got, await digestOf(secret))) matched = true;
  }
  return matched;
}

/**
 * True when `presented` equals `expected`, in a time that depends only on their lengths: for a
 * token whose length is no secret (the console's CSRF token is a MAC of fixed length).
 * Synchronous, and plain JavaScript, so it runs outside Workers too.
 */
export function equalsInConstantTime(presented: string, expected: string): boolean {
  const want = encoder.encode(expected);
  const got = encoder.encode(presented);
  if (got.byteLength !== want.byteLength) return false;
  let difference = 0;
  for (let i = 0; i < want.byteLength; i++) difference |= (want[i] ?? 0) ^ (got[i] ?? 0);
  return difference === 0;
}

/** Digests of configured secrets, computed once per isolate. */
const digests = new Map<string, Promise<ArrayBuffer>>();

function digestOf(secret: string): Promise<ArrayBuffer> {
  let digest = digests.get(secret);
  if (digest === undefined) {
    if (digests.size > 16) digests.clear();
    digest = sha256(secret);
    digests.set(secret, digest);
  }
  return digest;
}
