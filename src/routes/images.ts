// GET/HEAD /images/{task_id}/{name}: archived result images, served from R2.
import { Hono } from "hono";
import type { AppEnv } from "../app";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { IMAGE_NAME_PATTERN, imageKey } from "../images/sources";
import { ApiError } from "../lib/errors";

export const images = new Hono<AppEnv>();

images.on(["GET", "HEAD"], "/:taskId/:name", async (c) => {
  const { taskId, name } = c.req.param();
  if (!TASK_ID_PATTERN.test(taskId) || !IMAGE_NAME_PATTERN.test(name)) {
    throw new ApiError(400, "invalid_request", "invalid task id or image name");
  }
  const key = imageKey(taskId, name);
  const rangeHeader = c.req.header("range");
  const ifNoneMatch = c.req.header("if-none-match");
  const plainGet = c.req.method === "GET" && !rangeHeader && !ifNoneMatch;

  // A plain GET is one R2 read; conditional and range requests look at the object first.
  if (plainGet) {
    const object = await c.env.IMAGES.get(key);
    if (object === null) throw new ApiError(404, "not_found", "no such image");
    return new Response(object.body, { headers: objectHeaders(object, object.size) });
  }
  const meta = await c.env.IMAGES.head(key);
  if (meta === null) throw new ApiError(404, "not_found", "no such image");
  if (ifNoneMatch && etagMatches(ifNoneMatch, meta.httpEtag)) {
    const headers = objectHeaders(meta, meta.size);
    headers.delete("content-length");
    return new Response(null, { status: 304, headers });
  }
  const range = rangeHeader ? parseRange(rangeHeader, meta.size) : null;
  if (range === "unsatisfiable") {
    throw new ApiError(416, "range_not_satisfiable", "range not satisfiable", {
      "content-range": `bytes */${meta.size}`,
    });
  }
  const length = range ? range.length : meta.size;
  const headers = objectHeaders(meta, length);
  const status = range ? 206 : 200;
  if (range) {
    headers.set(
      "content-range",
      `bytes ${range.offset}-${range.offset + range.length - 1}/${meta.size}`,
    );
  }
  if (c.req.method === "HEAD") return new Response(null, { status, headers });
  const object = await c.env.IMAGES.get(key, range ? { range } : undefined);
  if (object === null) throw new ApiError(404, "not_found", "no such image");
  return new Response(object.body, { status, headers });
});

function objectHeaders(object: R2Object, length: number): Headers {
  const headers = new Headers();
  object.writeHttpMetadata(headers);
  headers.set("etag", object.httpEtag);
  headers.set("cache-control", "public, max-age=31536000, immutable");
  headers.set("accept-ranges", "bytes");
  headers.set("content-length", String(length));
  return headers;
}

/** RFC 9110 If-None-Match: `*` or a list of (weak or strong) tags. */
function etagMatches(header: string, etag: string): boolean {
  return header
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .some((tag) => tag === "*" || tag === etag);
}

/**
 * A single `bytes=` range against `size`; null (serve the whole object) for anything else,
 * such as several ranges; "unsatisfiable" when it starts past the end.
 */
export function parseRange(
  header: string,
  size: number,
): { offset: number; length: number } | "unsatisfiable" | null {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) return "unsatisfiable";
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const offset = Number(first);
  if (offset >= size) return "unsatisfiable";
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (end < offset) return null;
  return { offset, length: end - offset + 1 };
}
