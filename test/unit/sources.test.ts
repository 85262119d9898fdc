import { describe, expect, it } from "vitest";
import { imageKind, isAllowedImageUrl, parseImageHosts } from "../../src/images/sources";
import { parseRange } from "../../src/lib/range";

describe("image sources", () => {
  const defaults = parseImageHosts("");
  const allowed = (url: string, hosts = defaults) => isAllowedImageUrl(new URL(url), hosts);

  it("allows GoAPI's and Discord's hosts over https by default, and nothing else", () => {
    expect(allowed("https://img.midjourneyapi.xyz/mj/x.png")).toBe(true);
    expect(allowed("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1")).toBe(true);
    expect(allowed("http://img.midjourneyapi.xyz/mj/x.png")).toBe(false);
    expect(allowed("https://img.midjourneyapi.xyz:8443/x.png")).toBe(false);
    expect(allowed("https://evil.example/x.png")).toBe(false);
    expect(allowed("https://img.midjourneyapi.xyz.evil.example/x.png")).toBe(false);
    expect(allowed("https://user:pw@img.midjourneyapi.xyz/x.png")).toBe(false);
    expect(allowed("https://169.254.169.254/latest/meta-data")).toBe(false);
  });

  it("allows loopback only when listed with its exact port, over http or https", () => {
    const hosts = parseImageHosts("127.0.0.1:8080, localhost:9000");
    expect(allowed("http://127.0.0.1:8080/a.png", hosts)).toBe(true);
    expect(allowed("http://127.0.0.1:8081/a.png", hosts)).toBe(false);
    expect(allowed("http://localhost:9000/a.png", hosts)).toBe(true);
    expect(allowed("http://localhost/a.png", hosts)).toBe(false);
    expect(allowed("http://127.0.0.1:8080/a.png")).toBe(false);
  });

  it("takes the extension from the content type, else from the URL, and refuses non-images", () => {
    expect(imageKind("image/png", "https://h/x")).toEqual({
      contentType: "image/png",
      extension: "png",
    });
    expect(imageKind("image/jpeg; q=1", "https://h/x.png")).toMatchObject({ extension: "jpg" });
    expect(imageKind("image/webp", "https://h/x")).toMatchObject({ extension: "webp" });
    expect(imageKind("application/octet-stream", "https://h/x.gif")).toEqual({
      contentType: "image/gif",
      extension: "gif",
    });
    expect(imageKind("text/html", "https://h/x.png")).toBeNull();
    // Only PNG, JPEG, WebP and GIF are stored: an SVG could carry script.
    expect(imageKind("image/svg+xml", "https://h/x.png")).toBeNull();
    expect(imageKind("image/svg+xml; charset=utf-8", "https://h/x.svg")).toBeNull();
    expect(imageKind("image/bmp", "https://h/x.png")).toBeNull();
    expect(imageKind("application/octet-stream", "https://h/x.svg")).toBeNull();
    expect(imageKind("__proto__", "https://h/x")).toBeNull();
    expect(imageKind("application/octet-stream", "https://h/x.constructor")).toBeNull();
    expect(imageKind("application/octet-stream", "https://h/x")).toBeNull();
  });
});

describe("parseRange", () => {
  it("reads one byte range and refuses what it cannot serve", () => {
    expect(parseRange("bytes=0-9", 100)).toEqual({ offset: 0, length: 10 });
    expect(parseRange("bytes=90-", 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange("bytes=-5", 100)).toEqual({ offset: 95, length: 5 });
    expect(parseRange("bytes=50-500", 100)).toEqual({ offset: 50, length: 50 });
    expect(parseRange("bytes=100-", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 100)).toBeNull();
    expect(parseRange("items=0-1", 100)).toBeNull();
  });
});
