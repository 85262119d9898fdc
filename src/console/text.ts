// The console's text for people: short ids, times, byte sizes, and the notices after actions.

/** The first 8 characters of a task id: enough to tell tasks apart on a page. */
export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

/** An event id (`evt_…`) without its prefix, as short as a task id. */
export function shortEventId(id: string): string {
  return shortId(id.replace(/^evt_/, ""));
}

/**
 * "14 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in 30 s" for a time to come); more than 30
 * days away: the date.
 */
export function timeAgo(iso: string, now: number): string {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return iso;
  const seconds = Math.round(Math.abs(now - at) / 1000);
  const span =
    seconds < 60
      ? `${seconds} s`
      : seconds < 3600
        ? `${Math.floor(seconds / 60)} min`
        : seconds < 86_400
          ? `${Math.floor(seconds / 3600)} h`
          : `${Math.floor(seconds / 86_400)} d`;
  if (seconds < 5) return "just now";
  if (seconds >= 30 * 86_400) return iso.slice(0, 10);
  return at > now ? `in ${span}` : `${span} ago`;
}

/** "2026-11-27 15:18:21 UTC". */
export function utcTime(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** A byte count for people: "512 KiB", "2.1 MiB". */
export function byteSize(bytes: number | null): string {
  if (bytes === null) return "";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** Notices a redirect after an action names (never free text from the query string). */
const NOTICES: ReadonlyMap<string, string> = new Map(
  Object.entries({
    "signed-out": "Signed out.",
    deleted: "The task was deleted: its images, events, deliveries and index row are gone.",
    redelivered: "Redelivery started: the task's events go out again in a new attempt series.",
    "nothing-redelivered": "Nothing to redeliver: no subscription wants this task's events.",
    replayed: "Replay started: the delivery goes out again in a new attempt series.",
    resumed: "Resumed: the subscription's waiting deliveries go out now, a few tasks a second.",
  }),
);

/** The notice the query's `notice` names, or null: only a known one, never an inherited name. */
export function noticeText(key: string | null | undefined): string | null {
  return NOTICES.get(key ?? "") ?? null;
}
