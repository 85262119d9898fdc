import { describe, expect, it } from "vitest";
import { parseSubscriptions } from "../../src/delivery/subscriptions";
import { isAllowedImageUrl } from "../../src/images/sources";
import { httpsUrl, isLocalHttp, isPlainHttpToOtherHost } from "../../src/lib/local-http";
import { isPrivateAddress } from "../../src/lib/net";

const KEY = `whsec_${btoa("k".repeat(32))}`;

describe("isPrivateAddress", () => {
  it.each([
    ["127.0.0.2", "loopback beyond 127.0.0.1"],
    ["127.255.255.254", "loopback"],
    ["0x7f000002", "loopback, in hex"],
    ["2130706434", "loopback, as one number"],
    ["0177.0.0.2", "loopback, in octal"],
    ["0.1.2.3", "this network"],
    ["100.64.0.1", "carrier-grade NAT"],
    ["100.127.255.255", "carrier-grade NAT"],
    ["169.254.169.254", "link-local, cloud metadata"],
    ["172.16.0.1", "private"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.2.1", "documentation"],
    ["198.18.0.1", "benchmarking"],
    ["198.19.255.255", "benchmarking"],
    ["198.51.100.7", "documentation"],
    ["203.0.113.9", "documentation"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["[::]", "unspecified"],
    ["[::7f00:2]", "IPv4-compatible"],
    ["[::ffff:7f00:1]", "IPv4-mapped loopback"],
    ["[::ffff:8.8.8.8]", "IPv4-mapped"],
    ["[64:ff9b::a9fe:a9fe]", "NAT64 of 169.254.169.254"],
    ["[64:ff9b::10.0.0.1]", "NAT64 of 10.0.0.1"],
    ["[64:ff9b::7f00:1]", "NAT64 of 127.0.0.1"],
    ["[64:ff9b:1::1]", "local-use NAT64"],
    ["[2002:a00:1::1]", "6to4 of 10.0.0.1"],
    ["[2001::1]", "Teredo"],
    ["[2001:db8::1]", "documentation"],
    ["[fc00::1]", "unique local"],
    ["[fdff:ffff::1]", "unique local"],
    ["[fe80::1]", "link-local"],
    ["[febf::1]", "link-local"],
    ["[ff02::1]", "multicast"],
    ["fe80::1", "link-local, without brackets"],
  ])("is true for %s (%s)", (host) => {
    expect(isPrivateAddress(host)).toBe(true);
  });

  it.each([
    "8.8.8.8",
    "1.1.1.1",
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "198.17.255.255",
    "198.20.0.1",
    "[2606:4700::1]",
    "[64:ff9b::808:808]",
    "[2002:808:808::1]",
    "hooks.example.com",
    "metadata.google.internal",
    // The loopback addresses allowed for local use.
    "127.0.0.1",
    "[::1]",
    "localhost",
  ])("is false for %s", (host) => {
    expect(isPrivateAddress(host)).toBe(false);
  });
});

describe("URLs midhook sends to or fetches from", () => {
  it.each([
    "https://127.0.0.2/x",
    "https://0x7f000002/",
    "https://2130706434/",
    "https://[::ffff:127.0.0.1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://198.18.0.1/",
    "https://100.64.0.1/",
    "https://[fe80::1]/",
  ])("refuses the subscriber URL %s", (url) => {
    const result = parseSubscriptions([{ id: "s", url, secret: KEY }], {});
    expect(result).toEqual({
      ok: false,
      errors: ["subscriptions[0] (s).url: must not point at a private or link-local address"],
    });
  });

  it("refuses an image URL at a private address even when IMAGE_HOSTS lists it", () => {
    for (const host of ["10.0.0.5", "198.18.0.1", "127.0.0.2", "[64:ff9b::a00:5]"]) {
      expect(isAllowedImageUrl(new URL(`https://${host}/a.png`), [host]), host).toBe(false);
    }
    expect(isAllowedImageUrl(new URL("https://0x7f000002/a.png"), ["127.0.0.2"])).toBe(false);
    expect(isAllowedImageUrl(new URL("http://127.0.0.1:8080/a.png"), ["127.0.0.1:8080"])).toBe(
      true,
    );
  });
});

describe("plain http", () => {
  it("is taken only to this machine", () => {
    for (const url of [
      "http://localhost:8787/",
      "http://127.0.0.1:9000/v1",
      "http://[::1]:8787/",
    ]) {
      expect(isLocalHttp(url), url).toBe(true);
      expect(isPlainHttpToOtherHost(url), url).toBe(false);
    }
    for (const url of ["http://midhook.example.com/", "http://127.0.0.2/", "http://10.0.0.1/"]) {
      expect(isLocalHttp(url), url).toBe(false);
      expect(isPlainHttpToOtherHost(url), url).toBe(true);
    }
    expect(isPlainHttpToOtherHost("https://midhook.example.com/")).toBe(false);
    expect(isLocalHttp("https://localhost/")).toBe(false);
  });

  it("is sent to https on its default port, path and query kept", () => {
    expect(httpsUrl("http://midhook.example.com:8080/tasks/a?b=c")).toBe(
      "https://midhook.example.com/tasks/a?b=c",
    );
  });
});
