// GET/HEAD /images/{task_id}/{name}: archived result images, served from R2.
import { Hono } from "hono";
import type { AppEnv } from "../bindings";
import { TASK_ID_PATTERN } from "../goapi/schema";
import { IMAGE_NAME_PATTERN, imageKey } from "../images/sources";
import { ApiError } from "../lib/errors";
import { etagMatches, parseRange } from "../lib/range";

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
  // Served from midhook's own origin: never sniffed, never run.
  headers.set("x-content-type-options", "nosniff");
  headers.set("content-security-policy", "default-src 'none'");
  headers.set("accept-ranges", "bytes");
  headers.set("content-length", String(length));
  return headers;
}
