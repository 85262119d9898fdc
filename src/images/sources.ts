// Which image URLs midhook may fetch, and what an archived image is called and where it is
// served (pure, no I/O).
import { isPrivateAddress, LOOPBACK_HOSTS } from "../lib/net";

const DEFAULT_IMAGE_HOSTS = [
  "img.midjourneyapi.xyz",
  "img.theapi.app",
  "cdn.midjourney.com",
  "cdn.discordapp.com",
  "media.discordapp.net",
];

/** `IMAGE_HOSTS` as a list of lowercase `host` or `host:port` entries. */
export function parseImageHosts(value: string | undefined): string[] {
  const hosts = (value ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== "");
  return hosts.length > 0 ? hosts : DEFAULT_IMAGE_HOSTS;
}

/**
 * Whether `url` may be fetched: https to a listed host (a bare name allows only port 443,
 * `name:port` only that port), or http to a loopback host listed with its port. URLs with
 * credentials, and private or other non-public addresses, are never fetched.
 */
export function isAllowedImageUrl(url: URL, hosts: readonly string[]): boolean {
  if (url.username !== "" || url.password !== "") return false;
  const host = url.hostname.toLowerCase();
  if (isPrivateAddress(host)) return false;
  if (url.protocol === "https:") {
    return hosts.includes(url.port === "" ? host : `${host}:${url.port}`);
  }
  if (url.protocol === "http:" && LOOPBACK_HOSTS.has(host)) {
    return hosts.includes(`${host}:${url.port === "" ? "80" : url.port}`);
  }
  return false;
}

// Maps, not object literals: these are looked up with what a remote host sent.
const EXTENSION_OF_TYPE = new Map([
  ["image/png", "png"],
  ["image/jpeg", "jpg"],
  ["image/jpg", "jpg"],
  ["image/webp", "webp"],
  ["image/gif", "gif"],
]);

const IMAGE_EXTENSIONS = new Map([
  ["png", "image/png"],
  ["jpg", "image/jpeg"],
  ["jpeg", "image/jpeg"],
  ["webp", "image/webp"],
  ["gif", "image/gif"],
]);

/** The media type without parameters, lowercase. */
function mediaType(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** The extension named by the URL's path, when it is an image extension. */
function urlExtension(url: string): string | null {
  const match = /\.([a-z0-9]{2,5})$/i.exec(new URL(url).pathname);
  const ext = match?.[1]?.toLowerCase();
  return ext && IMAGE_EXTENSIONS.has(ext) ? (ext === "jpeg" ? "jpg" : ext) : null;
}

/**
 * The stored content type and extension of a fetched image, or null when it is not one of the
 * four stored types (PNG, JPEG, WebP, GIF; an SVG could carry script). The type comes from the
 * content type; a generic binary type is read from the URL's image extension.
 */
export function imageKind(
  contentType: string | null,
  url: string,
): { contentType: string; extension: string } | null {
  const type = mediaType(contentType);
  const known = EXTENSION_OF_TYPE.get(type);
  if (known) return { contentType: type === "image/jpg" ? "image/jpeg" : type, extension: known };
  const fromUrl = urlExtension(url);
  if ((type === "application/octet-stream" || type === "") && fromUrl) {
    return { contentType: IMAGE_EXTENSIONS.get(fromUrl) ?? "image/png", extension: fromUrl };
  }
  return null;
}

/** The file name to record for an image that could not be fetched: its extension from the URL. */
export function fallbackName(slot: string, url: string): string {
  let ext: string | null = null;
  try {
    ext = urlExtension(url);
  } catch {
    ext = null;
  }
  return ext ? `${slot}.${ext}` : slot;
}

/** Where an archived image lives in the bucket: `tasks/{task_id}/{name}`. */
export function imageKey(taskId: string, name: string): string {
  return `tasks/${taskId}/${name}`;
}

/**
 * Where an archived image is served: `{base}/images/{task_id}/{name}`, `base` being the origin
 * images are served from ("" for a path on the console's own origin).
 */
export function imageUrl(base: string, taskId: string, name: string): string {
  return `${base}/images/${taskId}/${name}`;
}

/** Image names are `main` or a number, a dot and an extension: nothing that leaves the prefix. */
export const IMAGE_NAME_PATTERN = /^(main|[0-9]{1,3})(\.[a-z0-9]{1,5})?$/;
