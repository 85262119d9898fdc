// A task's page: its facts, images, event timeline and deliveries (the panel, which the page's
// script reads again after each change the task's WebSocket announces), and the Redeliver and
// Delete buttons.
import type { DeliveryView, EventView, ImageView, TaskView } from "../contract";
import { imageUrl } from "../images/sources";
import { ColumnHeads, Layout, PostButton, Progress, StatusBadge, Time } from "./layout";
import type { Session } from "./session";
import { byteSize, shortEventId, shortId } from "./text";

export function TaskPage(props: {
  view: TaskView;
  session: Session;
  now: number;
  notice?: string | null;
}) {
  const { view } = props;
  const path = `/tasks/${encodeURIComponent(view.task_id)}`;
  return (
    <Layout
      title={`Task ${shortId(view.task_id)}`}
      session={props.session}
      section="tasks"
      notice={props.notice}
    >
      <nav class="crumbs" aria-label="Breadcrumb">
        <a href="/">Tasks</a> / <span class="mono">{shortId(view.task_id)}</span>
      </nav>
      <div class="task-head">
        <h1>
          Task <code>{view.task_id}</code>
        </h1>
        <div class="actions">
          <PostButton action={`${path}/redeliver`} session={props.session}>
            Redeliver
          </PostButton>
          <PostButton
            action={`${path}/delete`}
            session={props.session}
            class="danger"
            confirm="Delete this task? Its images, events and deliveries are erased for good."
          >
            Delete
          </PostButton>
        </div>
      </div>
      <p id="live-state" class="live-state" role="status" />
      <div id="task-panel" data-live-task={view.task_id}>
        <TaskPanel view={view} now={props.now} />
      </div>
    </Layout>
  );
}

/** Everything about the task that changes as events arrive. */
export function TaskPanel(props: { view: TaskView; now: number }) {
  const { view, now } = props;
  return (
    <>
      <dl class="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={view.status} />
          </dd>
        </div>
        <div>
          <dt>Progress</dt>
          <dd>
            <Progress value={view.progress} label="Task progress" />
          </dd>
        </div>
        <div>
          <dt>Type</dt>
          <dd>{view.task_type}</dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>{view.model}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            <Time iso={view.created_at} now={now} />
          </dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>
            <Time iso={view.updated_at} now={now} />
          </dd>
        </div>
        {(view.reconcile.state !== "idle" || view.reconcile.polls > 0) && (
          <div>
            <dt>Polling GoAPI</dt>
            <dd>
              {view.reconcile.state === "scheduled" && view.reconcile.next_poll_at ? (
                <>
                  next <Time iso={view.reconcile.next_poll_at} now={now} />
                </>
              ) : view.reconcile.state === "gave_up" ? (
                "gave up"
              ) : (
                "done"
              )}
              {` · ${view.reconcile.polls} poll${view.reconcile.polls === 1 ? "" : "s"}`}
              {view.reconcile.last_error && (
                <span class="error-text">{` · ${view.reconcile.last_error}`}</span>
              )}
            </dd>
          </div>
        )}
      </dl>
      <Images images={view.images} taskId={view.task_id} />
      <Timeline events={view.events} now={now} />
      <Deliveries deliveries={view.deliveries} now={now} />
    </>
  );
}

function Images(props: { images: readonly ImageView[]; taskId: string }) {
  return (
    <section aria-labelledby="images-title">
      <h2 id="images-title">Images</h2>
      {props.images.length === 0 ? (
        <p class="muted">No images yet: they are copied into R2 when the task completes.</p>
      ) : (
        <ul class="images">
          {props.images.map((image) => {
            const src = imageUrl("", props.taskId, image.name);
            const main = image.name === "main" || image.name.startsWith("main.");
            return (
              <li class={main && props.images.length > 1 ? "main" : undefined}>
                <figure>
                  {image.state === "stored" ? (
                    <a href={src}>
                      <img
                        src={src}
                        alt={`${main ? "Main result" : `Result ${image.name}`} of task ${shortId(props.taskId)}`}
                        loading="lazy"
                        width={512}
                        height={512}
                      />
                    </a>
                  ) : (
                    <p class={image.state === "failed" ? "error" : "muted"}>
                      {image.state === "failed" ? image.error : "Copying…"}
                    </p>
                  )}
                  <figcaption>
                    <span class="mono">{image.name}</span>
                    <StatusBadge status={image.state} />
                    <span>{byteSize(image.bytes)}</span>
                  </figcaption>
                </figure>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function Timeline(props: { events: readonly EventView[]; now: number }) {
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      <div class="table-wrap">
        <table>
          <caption>In the order received. Duplicates are redeliveries of the same event.</caption>
          <ColumnHeads
            columns={["Received", "Event", "Progress", "Source", "Duplicates", "Note"]}
          />
          <tbody>
            {props.events.map((event) => (
              <tr>
                <td>
                  <Time iso={event.received_at} now={props.now} />
                </td>
                <td>
                  <span class="mono" title={event.id}>
                    {event.type}
                  </span>
                </td>
                <td class="num">{`${event.progress}%`}</td>
                <td>{event.source}</td>
                <td class="num">{event.duplicates}</td>
                <td>
                  {event.stale && (
                    <span class="flag" title="Arrived after a newer state: recorded, not forwarded">
                      stale
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Deliveries(props: { deliveries: readonly DeliveryView[]; now: number }) {
  return (
    <section aria-labelledby="deliveries-title">
      <h2 id="deliveries-title">Deliveries</h2>
      {props.deliveries.length === 0 ? (
        <p class="muted">No deliveries: no subscription wants this task's events.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <ColumnHeads
              columns={[
                "Subscription",
                "Event",
                "State",
                "Attempts",
                "Last status",
                "Last error",
                "Next",
              ]}
            />
            <tbody>
              {props.deliveries.map((delivery) => (
                <tr>
                  <td>{delivery.subscription ?? "(SUBSCRIPTIONS invalid)"}</td>
                  <td>
                    <span class="mono" title={delivery.event}>
                      {shortEventId(delivery.event)}
                    </span>
                  </td>
                  <td>
                    <StatusBadge status={delivery.state} />
                  </td>
                  <td class="num">{delivery.attempts}</td>
                  <td class="num">{delivery.last_status ?? ""}</td>
                  <td class="error-text">{delivery.last_error ?? ""}</td>
                  <td>
                    {delivery.waiting_for
                      ? `waiting for ${delivery.waiting_for}`
                      : delivery.next_attempt_at && (
                          <Time iso={delivery.next_attempt_at} now={props.now} />
                        )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
