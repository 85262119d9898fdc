// The console's static files, served by the Worker itself (nothing to build, no CDN): the style
// sheet, the little script (confirmations, live updates of a task page) and the icon. Their URLs
// carry a hash of their content, so browsers may keep them for a year.
import { LIVE_REPLACED } from "../contract";

const CSS = `
:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --surface: #ffffff; --text: #1c2230; --muted: #586171; --border: #dde1e8;
  --accent: #3451c7; --accent-text: #ffffff; --danger: #b42323; --focus: #3451c7;
  --pending-bg: #eceef2; --pending: #3b4352; --processing-bg: #e3ebff; --processing: #2540a8;
  --completed-bg: #dcf3e4; --completed: #16623a; --failed-bg: #fde3e3; --failed: #a11d1d;
  --radius: 10px; --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #101318; --surface: #181c23; --text: #e7e9ee; --muted: #a4acba; --border: #2b313c;
    --accent: #8ea3ff; --accent-text: #0d1020; --danger: #ff8a8a; --focus: #8ea3ff;
    --pending-bg: #2a2f39; --pending: #d5d9e1; --processing-bg: #1e2a52; --processing: #bccbff;
    --completed-bg: #15361f; --completed: #9be2b2; --failed-bg: #431a1a; --failed: #ffb4b4;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible {
  outline: 3px solid var(--focus); outline-offset: 2px;
}
code, .mono { font-family: var(--mono); font-size: 0.92em; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 12px; top: 12px; background: var(--surface); padding: 8px 12px; z-index: 2; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.top {
  display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px;
  padding: 12px max(16px, calc((100vw - 1200px) / 2)); background: var(--surface);
  border-bottom: 1px solid var(--border);
}
.brand { font-weight: 700; font-size: 18px; letter-spacing: -0.01em; color: var(--text); text-decoration: none; }
.top nav { display: flex; gap: 4px; flex: 1; }
.top nav a { padding: 6px 10px; border-radius: 8px; color: var(--muted); text-decoration: none; font-weight: 500; }
.top nav a:hover { color: var(--text); background: var(--bg); }
.top nav a[aria-current="page"] { color: var(--text); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 24px 16px 64px; }
h1 { font-size: 24px; line-height: 1.25; margin: 0 0 16px; letter-spacing: -0.01em; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin: 32px 0 12px; }
button, .button {
  font: inherit; font-weight: 600; border: 1px solid var(--border); background: var(--surface);
  color: var(--text); padding: 7px 14px; border-radius: 8px; cursor: pointer;
}
button:hover { border-color: var(--muted); }
button.primary { background: var(--accent); color: var(--accent-text); border-color: var(--accent); }
button.danger { color: var(--danger); }
button.quiet { font-weight: 500; }
button:disabled { opacity: 0.5; cursor: not-allowed; }
form.inline { display: inline; margin: 0; }
input, select {
  font: inherit; color: var(--text); background: var(--surface); border: 1px solid var(--border);
  border-radius: 8px; padding: 7px 10px;
}
label { font-weight: 600; }
.notice, .alert { padding: 10px 14px; border-radius: var(--radius); margin: 0 0 20px; }
.notice { background: var(--completed-bg); color: var(--completed); }
.alert { background: var(--failed-bg); color: var(--failed); }
.toolbar { display: flex; flex-wrap: wrap; align-items: center; gap: 12px; justify-content: space-between; margin-bottom: 20px; }
.toolbar h1 { margin: 0; }
.filter { display: flex; align-items: center; gap: 8px; }
.gallery { list-style: none; padding: 0; margin: 0; display: grid; gap: 16px; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); }
.card { background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); overflow: hidden; }
.card:hover { border-color: var(--muted); }
.card a { display: block; color: inherit; text-decoration: none; }
.thumb { aspect-ratio: 1 / 1; background: var(--pending-bg); display: grid; place-items: center; }
.thumb img { width: 100%; height: 100%; object-fit: cover; display: block; }
.thumb .placeholder { color: var(--muted); font-size: 13px; text-transform: capitalize; }
.card-body { padding: 10px 12px 12px; display: grid; gap: 6px; }
.card-title { display: flex; justify-content: space-between; gap: 8px; align-items: baseline; }
.card-title .mono { font-weight: 600; }
.card-meta { display: flex; justify-content: space-between; gap: 8px; color: var(--muted); font-size: 13px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; }
.badge-pending { background: var(--pending-bg); color: var(--pending); }
.badge-processing { background: var(--processing-bg); color: var(--processing); }
.badge-completed, .badge-delivered, .badge-stored { background: var(--completed-bg); color: var(--completed); }
.badge-failed { background: var(--failed-bg); color: var(--failed); }
.progress { display: flex; align-items: center; gap: 8px; font-size: 13px; color: var(--muted); }
progress { flex: 1; height: 6px; min-width: 60px; appearance: none; border: 0; border-radius: 999px; background: var(--pending-bg); overflow: hidden; }
progress::-webkit-progress-bar { background: var(--pending-bg); }
progress::-webkit-progress-value { background: var(--accent); border-radius: 999px; }
progress::-moz-progress-bar { background: var(--accent); border-radius: 999px; }
.progress-value { min-width: 3.2em; text-align: right; font-variant-numeric: tabular-nums; }
.pager { display: flex; gap: 16px; justify-content: center; margin-top: 28px; }
.empty { background: var(--surface); border: 1px dashed var(--border); border-radius: var(--radius); padding: 32px; text-align: center; color: var(--muted); }
.crumbs { font-size: 14px; color: var(--muted); margin-bottom: 8px; }
.task-head { display: flex; flex-wrap: wrap; gap: 12px; justify-content: space-between; align-items: flex-start; }
.actions { display: flex; gap: 8px; }
.facts { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 8px 0 0; background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 16px; }
.facts div { min-width: 0; }
.facts dt { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); }
.facts dd { margin: 2px 0 0; overflow-wrap: anywhere; }
.live-state { font-size: 13px; color: var(--muted); min-height: 1.5em; margin: 8px 0 0; }
.images { display: grid; gap: 12px; grid-template-columns: repeat(4, minmax(0, 1fr)); margin: 0; padding: 0; list-style: none; }
.images img { display: block; width: 100%; height: auto; background: var(--pending-bg); }
.images li.main { grid-column: span 2; grid-row: span 2; }
.images li.main figure { height: 100%; display: flex; flex-direction: column; }
.images li.main a { flex: 1; }
.images li.main img { height: 100%; object-fit: cover; }
@media (max-width: 700px) {
  .images { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .images li.main { grid-row: auto; }
}
.images figure { margin: 0; background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); overflow: hidden; }
.images figcaption { padding: 8px 10px; font-size: 13px; color: var(--muted); display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
.images .error { color: var(--failed); padding: 16px; font-size: 13px; }
.table-wrap { overflow-x: auto; background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption { text-align: left; padding: 10px 12px 0; color: var(--muted); font-size: 13px; }
th, td { text-align: left; padding: 8px 12px; border-bottom: 1px solid var(--border); vertical-align: middle; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); font-weight: 600; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; }
td.error-text { color: var(--failed); max-width: 28em; overflow-wrap: anywhere; }
.flag { font-size: 12px; font-weight: 600; color: var(--muted); }
.signin { max-width: 380px; margin: 8vh auto 0; background: var(--surface); border: 1px solid var(--border); border-radius: var(--radius); padding: 28px; }
.signin form { display: grid; gap: 10px; margin-top: 16px; }
.signin p { color: var(--muted); margin: 0; }
.muted { color: var(--muted); }
@media (max-width: 560px) {
  main { padding: 16px 12px 48px; }
  .gallery { grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; }
  .toolbar { align-items: stretch; }
}
`;

const JS = `"use strict";
// midhook console: confirmation before destructive buttons, and live updates of a task page
// through the task's WebSocket (reconnecting with backoff).
(() => {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  const panel = document.getElementById("task-panel");
  const taskId = panel && panel.dataset.liveTask;
  if (!taskId) return;
  const state = document.getElementById("live-state");
  const path = "/tasks/" + encodeURIComponent(taskId);
  const say = (text) => {
    if (state) state.textContent = text;
  };
  let socket = null;
  let failures = 0;
  let loading = false;
  let again = false;
  let ended = false;

  // Stops following the task, saying why.
  function stop(why) {
    ended = true;
    say(why);
    if (socket) socket.close();
  }

  function deleted() {
    stop("This task has been deleted.");
    for (const button of document.querySelectorAll(".actions button")) button.disabled = true;
  }

  // Reads the task's panel again (rendered by the Worker) and puts it in place.
  async function refresh() {
    if (loading) {
      again = true;
      return;
    }
    loading = true;
    try {
      const response = await fetch(path + "/panel", { credentials: "same-origin" });
      if (response.ok && !ended) panel.innerHTML = await response.text();
      // Signed out (here or elsewhere), or the task is gone: nothing more to follow.
      if (response.status === 401) {
        stop("Your session has ended: reload the page to sign in again.");
      }
      if (response.status === 404) deleted();
    } catch {
      // the next message or reconnection reads it again
    } finally {
      loading = false;
      if (again && !ended) {
        again = false;
        refresh();
      }
    }
  }

  function connect() {
    const url = new URL(path + "/live", window.location.href);
    url.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      failures = 0;
      say("Live: this page follows the task as events arrive.");
    });
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (message.type === "deleted") {
        deleted();
      } else if (message.type === "changed") {
        refresh();
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === ${LIVE_REPLACED}) {
        stop("This task is open in many other pages: reload to follow it here.");
      }
      if (ended) return;
      failures += 1;
      const delay = Math.min(30000, 1000 * 2 ** Math.min(failures - 1, 5));
      say("Connection lost; trying again in " + Math.round(delay / 1000) + " s.");
      // A refused upgrade looks like any lost connection: the panel's answer tells an ended
      // session apart, and then the page stops trying.
      setTimeout(async () => {
        if (ended) return;
        await refresh();
        if (!ended) connect();
      }, delay);
    });
  }

  connect();
  // Keeps idle connections open through proxies; answered without waking the task's object.
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send("ping");
  }, 30000);
})();
`;

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#3451c7"/><path d="M8 22V10l8 7 8-7v12" fill="none" stroke="#fff" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

/** A short content hash (FNV-1a), so that a changed file gets a new URL. */
function hashOf(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(36);
}

export interface Asset {
  path: string;
  body: string;
  type: string;
}

const FILES: Record<"css" | "js" | "icon", Asset> = {
  css: { path: "/console.css", body: CSS, type: "text/css; charset=utf-8" },
  js: { path: "/console.js", body: JS, type: "text/javascript; charset=utf-8" },
  icon: { path: "/favicon.svg", body: ICON, type: "image/svg+xml" },
};

/** Each file's URL, with its version. */
export const ASSET_PATHS = {
  css: `${FILES.css.path}?v=${hashOf(CSS)}`,
  js: `${FILES.js.path}?v=${hashOf(JS)}`,
  icon: `${FILES.icon.path}?v=${hashOf(ICON)}`,
};

/** Every file, each served at its path. */
export const ASSET_FILES: readonly Asset[] = Object.values(FILES);
