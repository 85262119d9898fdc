// The console's front page: every task as a gallery card (the archived main image, id, type,
// status, progress, last update), newest first from the cross-task index, with a status filter
// and paging.
import type { TaskListItem, TaskListPage } from "../contract";
import { TASK_STATUSES } from "../goapi/events";
import { Layout, Progress, StatusBadge, Time } from "./layout";
import type { Session } from "./session";
import { shortId } from "./text";

export interface GalleryProps {
  page: TaskListPage;
  status: string | null;
  /** Whether this is a later page (then "Newest" leads back to the first). */
  paged: boolean;
  session: Session;
  now: number;
  notice?: string | null;
}

export function GalleryPage(props: GalleryProps) {
  const query = (extra: Record<string, string>) => {
    const params = new URLSearchParams(extra);
    if (props.status) params.set("status", props.status);
    const text = params.toString();
    return text ? `/?${text}` : "/";
  };
  return (
    <Layout title="Tasks" session={props.session} section="tasks" notice={props.notice}>
      <div class="toolbar">
        <h1>Tasks</h1>
        <form class="filter" method="get" action="/">
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="">All</option>
            {TASK_STATUSES.map((status) => (
              <option value={status} selected={props.status === status}>
                {status[0]?.toUpperCase() + status.slice(1)}
              </option>
            ))}
          </select>
          <button type="submit">Show</button>
        </form>
      </div>
      {props.page.items.length === 0 ? (
        <p class="empty">
          {props.status
            ? `No ${props.status} tasks.`
            : "No tasks yet. Set GoAPI's webhook_endpoint to this Worker's /webhooks/goapi; tasks appear here within seconds of their first event."}
        </p>
      ) : (
        <ul class="gallery">
          {props.page.items.map((item) => (
            <TaskCard item={item} now={props.now} />
          ))}
        </ul>
      )}
      <nav class="pager" aria-label="Pages">
        {props.paged && <a href={query({})}>Newest tasks</a>}
        {props.page.next_cursor && (
          <a rel="next" href={query({ cursor: props.page.next_cursor })}>
            Older tasks
          </a>
        )}
      </nav>
    </Layout>
  );
}

function TaskCard(props: { item: TaskListItem; now: number }) {
  const { item } = props;
  // The console shows images from its own origin, whatever PUBLIC_BASE_URL the API uses.
  const thumbnail = item.thumbnail_url === null ? null : new URL(item.thumbnail_url).pathname;
  return (
    <li class="card">
      <a href={`/tasks/${encodeURIComponent(item.task_id)}`}>
        <div class="thumb">
          {thumbnail ? (
            <img
              src={thumbnail}
              alt={`Result of ${item.task_type} task ${shortId(item.task_id)}`}
              loading="lazy"
              decoding="async"
              width={512}
              height={512}
            />
          ) : (
            <span class="placeholder">
              {item.status === "completed" ? "no image" : item.status}
            </span>
          )}
        </div>
        <div class="card-body">
          <div class="card-title">
            <span class="mono" title={item.task_id}>
              {shortId(item.task_id)}
            </span>
            <StatusBadge status={item.status} />
          </div>
          <Progress value={item.progress} label={`Progress of task ${shortId(item.task_id)}`} />
          <div class="card-meta">
            <span>{item.task_type}</span>
            <Time iso={item.updated_at} now={props.now} />
          </div>
        </div>
      </a>
    </li>
  );
}
