// The admin API's gate: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time, taken
// over https only (plain http only to this machine); never the example value but on this machine.
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../bindings";
import { adminToken, exampleTokenRefusal } from "../config";
import { matchesAnySecret } from "../lib/constant-time";
import { ApiError } from "../lib/errors";
import { httpsUrl, isPlainHttpToOtherHost, isThisMachine } from "../lib/local-http";

/**
 * 503 while ADMIN_TOKEN is unset (fail closed), or is the example value to anything but this
 * machine; 403 over plain http to anything but this machine (see ../lib/local-http); 401
 * without the right bearer token.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const token = adminToken(c.env);
  if (token === null) throw new ApiError(503, "not_configured", "ADMIN_TOKEN is not set");
  const refusal = isThisMachine(c.req.url) ? null : exampleTokenRefusal(token);
  if (refusal !== null) throw new ApiError(503, "not_configured", refusal);
  if (isPlainHttpToOtherHost(c.req.url)) {
    const secure = new URL(httpsUrl(c.req.url)).origin;
    throw new ApiError(
      403,
      "https_required",
      `the admin token travels over https only: use ${secure}`,
    );
  }
  const header = c.req.header("authorization") ?? "";
  const presented = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
  if (!(await matchesAnySecret(presented, [token]))) {
    throw new ApiError(401, "unauthorized", "missing or wrong bearer token", {
      "www-authenticate": "Bearer",
    });
  }
  await next();
});
