// The benchmark's yardstick: a Worker that only streams a request body into R2, to compare
// midhook's archive copy (fetch → hash → R2) with a plain R2 put of the same bytes.
export default {
  async fetch(request: Request, env: { BUCKET: R2Bucket }): Promise<Response> {
    const length = Number(request.headers.get("content-length"));
    if (request.method !== "PUT" || request.body === null || !Number.isSafeInteger(length)) {
      return new Response("PUT a body with a content-length", { status: 400 });
    }
    const key = `baseline/${crypto.randomUUID()}`;
    await env.BUCKET.put(key, request.body.pipeThrough(new FixedLengthStream(length)));
    return new Response(key);
  },
} satisfies ExportedHandler<{ BUCKET: R2Bucket }>;
