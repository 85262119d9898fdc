// Recognising addresses a gateway must never be pointed at (SSRF): private, link-local, metadata
// and unspecified IP literals; and the loopback names allowed for local use. Host names are not
// resolved here; Workers' fetch does not reach private networks in production, and this catches
// literals in configuration.

/** Loopback host names as `URL.hostname` gives them: allowed over http, for local use only. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** True for an IP-literal hostname (as `URL.hostname` gives it) in a non-public range, loopback excepted. */
export function isPrivateAddress(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4) {
    const [a = 0, b = 0] = v4.slice(1, 3).map(Number);
    return (
      a === 0 ||
      a === 10 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    );
  }
  if (!host.includes(":")) return false;
  return (
    host === "::" ||
    /^f[cd][0-9a-f]{2}:/.test(host) ||
    /^fe[89ab][0-9a-f]:/.test(host) ||
    host.startsWith("::ffff:")
  );
}
