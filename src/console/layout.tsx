// The console's one page layout: head, header with navigation and sign-out, notices, and the
// small pieces every page uses (a status badge, a progress bar, a time, a CSRF-protected button).
import type { Child } from "hono/jsx";
import { raw } from "hono/utils/html";
import type { TaskStatus } from "../goapi/events";
import { ASSET_PATHS } from "./assets";
import type { Session } from "./session";
import { timeAgo, utcTime } from "./text";

export type Section = "tasks" | "dead-letters" | "subscriptions";

export interface LayoutProps {
  title: string;
  /** Signed in: the header shows the navigation and Sign out. */
  session: Session | null;
  section?: Section;
  notice?: string | null;
  error?: string | null;
  children?: Child;
}

export function Layout(props: LayoutProps) {
  return (
    <>
      {raw("<!DOCTYPE html>")}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          <title>{`${props.title} · midhook`}</title>
          <link rel="stylesheet" href={ASSET_PATHS.css} />
          <link rel="icon" href={ASSET_PATHS.icon} type="image/svg+xml" />
          <script src={ASSET_PATHS.js} defer />
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/">
              midhook
            </a>
            {props.session && (
              <>
                <nav aria-label="Sections">
                  <a href="/" aria-current={props.section === "tasks" ? "page" : undefined}>
                    Tasks
                  </a>
                  <a
                    href="/dead-letters"
                    aria-current={props.section === "dead-letters" ? "page" : undefined}
                  >
                    Dead letters
                  </a>
                  <a
                    href="/subscriptions"
                    aria-current={props.section === "subscriptions" ? "page" : undefined}
                  >
                    Subscriptions
                  </a>
                </nav>
                <PostButton action="/sign-out" session={props.session} class="quiet">
                  Sign out
                </PostButton>
              </>
            )}
          </header>
          <main id="main">
            {props.notice && (
              <p class="notice" role="status">
                {props.notice}
              </p>
            )}
            {props.error && (
              <p class="alert" role="alert">
                {props.error}
              </p>
            )}
            {props.children}
          </main>
        </body>
      </html>
    </>
  );
}

/** A button that POSTs a form with the session's CSRF token; `confirm` asks first (with JS). */
export function PostButton(props: {
  action: string;
  session: Session;
  children: Child;
  class?: string;
  confirm?: string;
}) {
  return (
    <form method="post" action={props.action} class="inline" data-confirm={props.confirm}>
      <input type="hidden" name="csrf" value={props.session.csrf} />
      <button type="submit" class={props.class}>
        {props.children}
      </button>
    </form>
  );
}

/** The status in words, coloured by state (the colour is never the only cue). */
export function StatusBadge(props: { status: TaskStatus | string }) {
  return <span class={`badge badge-${props.status}`}>{props.status}</span>;
}

/** A labelled progress bar with its value in text beside it. */
export function Progress(props: { value: number; label: string }) {
  return (
    <span class="progress">
      <progress max={100} value={props.value} aria-label={props.label} />
      <span class="progress-value">{`${props.value}%`}</span>
    </span>
  );
}

/** A time as "5 min ago", with the exact UTC time on hover and for machines. */
export function Time(props: { iso: string; now: number }) {
  return (
    <time datetime={props.iso} title={utcTime(props.iso)}>
      {timeAgo(props.iso, props.now)}
    </time>
  );
}

/**
 * A table's head: one column header per entry, in order. An action column has no visible name
 * but is still named for assistive technology.
 */
export function ColumnHeads(props: { columns: readonly string[]; action?: boolean }) {
  return (
    <thead>
      <tr>
        {props.columns.map((name) => (
          <th scope="col">{name}</th>
        ))}
        {props.action && (
          <th scope="col">
            <span class="vh">Action</span>
          </th>
        )}
      </tr>
    </thead>
  );
}
