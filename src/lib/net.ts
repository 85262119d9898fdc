// Recognising addresses a gateway must never be pointed at (SSRF): IP literals outside the public
// internet (private, loopback, link-local, metadata, shared, reserved, documentation, and IPv6
// forms that carry such an IPv4 address); and the loopback names allowed for local use. Host
// names are not resolved here; Workers' fetch does not reach private networks in production, and
// this catches literals in configuration.

/** Loopback host names as `URL.hostname` gives them: allowed over http, for local use only. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** IPv4 ranges that are not the public internet (RFC 6890 and the ranges added since). */
const NON_PUBLIC_V4: ReadonlyArray<readonly [string, number]> = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback (127.0.0.1 itself is in LOOPBACK_HOSTS)
  ["169.254.0.0", 16], // link-local, cloud metadata
  ["172.16.0.0", 12],
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relays
  ["192.168.0.0", 16],
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 3], // multicast, reserved, broadcast
];

/** IPv6 ranges that are not the public internet. */
const NON_PUBLIC_V6: ReadonlyArray<readonly [string, number]> = [
  ["::", 8], // unspecified, loopback, IPv4-compatible, IPv4-mapped, IPv4-translated
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  ["2001::", 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID
  ["2001:db8::", 32], // documentation
  ["3fff::", 20], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local
  ["ff00::", 8], // multicast
];

/**
 * True for an IP-literal hostname in a non-public range, loopback (127.0.0.1, ::1) excepted. The
 * hostname is read as a URL reads it, so "0x7f000002", "2130706434" and "0177.0.0.2" are all
 * 127.0.0.2; an IPv6 address that embeds an IPv4 one (NAT64, 6to4) is judged by that address.
 */
export function isPrivateAddress(hostname: string): boolean {
  const host = canonicalHost(hostname);
  if (host === null || LOOPBACK_HOSTS.has(host)) return false;
  const v4 = ipv4Value(host);
  if (v4 !== null) return isNonPublicV4(v4);
  if (!host.startsWith("[")) return false;
  const v6 = ipv6Value(host.slice(1, -1));
  // An IPv6 literal this cannot read is refused rather than trusted.
  if (v6 === null) return true;
  if (inPrefix(v6, "64:ff9b::", 96)) return isNonPublicV4(Number(v6 & 0xffffffffn)); // NAT64
  if (inPrefix(v6, "2002::", 16)) return isNonPublicV4(Number((v6 >> 80n) & 0xffffffffn)); // 6to4
  return NON_PUBLIC_V6.some(([prefix, length]) => inPrefix(v6, prefix, length));
}

/** `hostname` as `URL.hostname` gives it (IPv4 in dotted decimal, IPv6 bracketed), or null. */
function canonicalHost(hostname: string): string | null {
  const bare = hostname.includes(":") && !hostname.startsWith("[") ? `[${hostname}]` : hostname;
  try {
    return new URL(`http://${bare}/`).hostname;
  } catch {
    return null;
  }
}

function isNonPublicV4(address: number): boolean {
  return NON_PUBLIC_V4.some(([network, length]) => {
    const base = ipv4Value(network) ?? 0;
    const shift = 32 - length;
    return address >>> shift === base >>> shift;
  });
}

/** A dotted-decimal IPv4 address as a 32-bit number, or null. */
function ipv4Value(host: string): number | null {
  const parts = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)?.slice(1).map(Number);
  if (parts === undefined || parts.some((part) => part > 255)) return null;
  return parts.reduce((value, part) => value * 256 + part, 0);
}

/** An IPv6 address in hex groups (with at most one "::") as a 128-bit number, or null. */
function ipv6Value(text: string): bigint | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groupsOf = (part: string | undefined) => (part ? part.split(":") : []);
  const left = groupsOf(halves[0]);
  const right = groupsOf(halves[1]);
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  let value = 0n;
  for (const group of [...left, ...Array<string>(missing).fill("0"), ...right]) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return null;
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  }
  return value;
}

function inPrefix(address: bigint, prefix: string, length: number): boolean {
  const shift = BigInt(128 - length);
  return address >> shift === (ipv6Value(prefix) ?? -1n) >> shift;
}
