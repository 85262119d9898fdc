// Constant-time comparison of a presented secret against configured ones.
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
    const want = await sha256(secret);
    if (crypto.subtle.timingSafeEqual(got, want)) matched = true;
  }
  return matched;
}
