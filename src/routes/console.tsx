// The console at `/`: sign-in and sign-out, the gallery of tasks, a task's page with its live
// WebSocket, the dead letters, the subscriptions, and the POSTs of their buttons. HTML pages with
// a session cookie, over the same operations as the admin API (../admin).
import { Hono } from "hono";
import { listDeadLetters, replayDeadLetter } from "../admin/dead-letters";
import { listSubscriptions, resumeSubscription } from "../admin/subscriptions";
import { deleteTask, getTask, listTasks, redeliverTask, taskId } from "../admin/tasks";
import { taskObject } from "../bindings";
import { ASSET_FILES } from "../console/assets";
import { DeadLettersPage } from "../console/dead-letters";
import { readForm, safeNext } from "../console/form";
import { GalleryPage } from "../console/gallery";
import { ErrorPage, SignInPage } from "../console/pages";
import {
  createSession,
  fromSameOrigin,
  SESSION_SECONDS,
  sessionCookieHeader,
} from "../console/session";
import { recordSignOut } from "../console/sign-outs";
import { SubscriptionsPage } from "../console/subscriptions";
import { TaskPage, TaskPanel } from "../console/task-page";
import { noticeText } from "../console/text";
import { matchesAnySecret } from "../lib/constant-time";
import { ApiError, errorText } from "../lib/errors";
import { isWebSocketUpgrade } from "../lib/websocket";
import {
  type ConsoleEnv,
  consoleError,
  consoleOn,
  csrfChecked,
  signedIn,
  signedInToSignOut,
  tokenOf,
} from "./console-gate";

/** Tasks per gallery page: a multiple of 2, 3, 4 and 6 columns. */
const GALLERY_PAGE = "48";

export const consolePages = new Hono<ConsoleEnv>();
consolePages.onError(consoleError);

for (const asset of ASSET_FILES) {
  consolePages.get(asset.path, (c) => {
    // A URL with the right version never changes; without one, look again each time.
    const versioned = c.req.query("v") !== undefined;
    return c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": versioned ? "public, max-age=31536000, immutable" : "no-cache",
      "x-content-type-options": "nosniff",
    });
  });
}

/** The page of a sign-out that cleared the cookie but could not be listed. */
const NOT_RECORDED = {
  title: "Signed out of this browser only",
  message:
    "midhook could not record the sign-out, so a copy of this session's cookie taken elsewhere " +
    `still opens the console until it expires, within ${SESSION_SECONDS / 3600} hours. ` +
    "To end every session now, change ADMIN_TOKEN.",
};

consolePages.get("/", consoleOn, signedIn, async (c) => {
  const status = c.req.query("status") || undefined;
  const cursor = c.req.query("cursor") || undefined;
  const page = await listTasks(c.env, { status, cursor, limit: GALLERY_PAGE });
  return c.html(
    <GalleryPage
      page={page}
      status={status ?? null}
      paged={cursor !== undefined}
      session={c.get("session")}
      now={Date.now()}
      notice={noticeText(c.req.query("notice"))}
    />,
  );
});

consolePages.post("/sign-in", consoleOn, async (c) => {
  if (!fromSameOrigin(c.req.raw)) {
    throw new ApiError(403, "forbidden", "sign in from the console's own page");
  }
  const form = await readForm(c.req.raw);
  const next = safeNext(form.get("next"));
  if (!(await matchesAnySecret(form.get("token") ?? "", [tokenOf(c)]))) {
    return c.html(<SignInPage error="That is not the admin token." next={next} />, 401);
  }
  const { cookie } = await createSession(tokenOf(c), Date.now());
  c.header("set-cookie", sessionCookieHeader(cookie, c.req.url));
  return c.redirect(next, 303);
});

// Signing out clears the cookie and lists the session as signed out, so that no copy of the
// cookie opens the console again (see ../console/sign-outs). Should the list fail, this browser
// is signed out all the same, and told that copies elsewhere are not.
consolePages.post("/sign-out", consoleOn, signedInToSignOut, csrfChecked, async (c) => {
  c.header("set-cookie", sessionCookieHeader(null, c.req.url));
  try {
    await recordSignOut(c.env.INDEX, c.get("session"), Date.now());
  } catch (err) {
    console.error("recording a console sign-out failed", errorText(err));
    return c.html(<ErrorPage {...NOT_RECORDED} session={null} />, 503);
  }
  return c.redirect("/?notice=signed-out", 303);
});

consolePages.get("/tasks/:taskId", consoleOn, signedIn, async (c) => {
  const view = await getTask(c.env, taskId(c.req.param("taskId")));
  if (view === null) throw new ApiError(404, "not_found", "There is no such task.");
  return c.html(
    <TaskPage
      view={view}
      session={c.get("session")}
      now={Date.now()}
      notice={noticeText(c.req.query("notice"))}
    />,
  );
});

// The task page's script reads the panel again after each change its WebSocket announces.
consolePages.get("/tasks/:taskId/panel", consoleOn, signedIn, async (c) => {
  const view = await getTask(c.env, taskId(c.req.param("taskId")));
  if (view === null) return c.text("no such task", 404);
  return c.html(<TaskPanel view={view} now={Date.now()} />);
});

// The WebSocket is the task object's own (hibernation API): the upgrade goes straight to it.
consolePages.get("/tasks/:taskId/live", consoleOn, signedIn, (c) => {
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    return c.text("cross-origin WebSocket refused", 403);
  }
  if (!isWebSocketUpgrade(c.req.raw)) {
    return c.text("expected a WebSocket upgrade", 426);
  }
  return taskObject(c.env, taskId(c.req.param("taskId"))).fetch(c.req.raw);
});

consolePages.post("/tasks/:taskId/redeliver", consoleOn, signedIn, csrfChecked, async (c) => {
  const id = taskId(c.req.param("taskId"));
  const restarted = await redeliverTask(c.env, id);
  const done = restarted.length > 0 ? "redelivered" : "nothing-redelivered";
  return c.redirect(`/tasks/${encodeURIComponent(id)}?notice=${done}`, 303);
});

consolePages.post("/tasks/:taskId/delete", consoleOn, signedIn, csrfChecked, async (c) => {
  await deleteTask(c.env, taskId(c.req.param("taskId")));
  return c.redirect("/?notice=deleted", 303);
});

consolePages.get("/dead-letters", consoleOn, signedIn, async (c) => {
  const cursor = c.req.query("cursor") || undefined;
  const page = await listDeadLetters(c.env, { cursor, limit: "50" });
  return c.html(
    <DeadLettersPage
      page={page}
      paged={cursor !== undefined}
      session={c.get("session")}
      now={Date.now()}
      notice={noticeText(c.req.query("notice"))}
    />,
  );
});

consolePages.get("/subscriptions", consoleOn, signedIn, async (c) =>
  c.html(
    <SubscriptionsPage
      items={await listSubscriptions(c.env)}
      session={c.get("session")}
      now={Date.now()}
      notice={noticeText(c.req.query("notice"))}
    />,
  ),
);

consolePages.post("/subscriptions/:id/resume", consoleOn, signedIn, csrfChecked, async (c) => {
  await resumeSubscription(c.env, c.req.param("id"));
  return c.redirect("/subscriptions?notice=resumed", 303);
});

consolePages.post("/dead-letters/:id/replay", consoleOn, signedIn, csrfChecked, async (c) => {
  await replayDeadLetter(c.env, c.req.param("id"));
  return c.redirect("/dead-letters?notice=replayed", 303);
});
