// The dead letters: deliveries that failed for good, across tasks, oldest first, each with a
// Replay button that starts a new attempt series.
import type { DeadLetterPage } from "../contract";
import { ColumnHeads, Layout, PostButton, Time } from "./layout";
import type { Session } from "./session";
import { shortEventId, shortId } from "./text";

export function DeadLettersPage(props: {
  page: DeadLetterPage;
  paged: boolean;
  session: Session;
  now: number;
  notice?: string | null;
}) {
  return (
    <Layout
      title="Dead letters"
      session={props.session}
      section="dead-letters"
      notice={props.notice}
    >
      <h1>Dead letters</h1>
      {props.page.items.length === 0 ? (
        <p class="empty">No dead letters: every delivery so far succeeded or is still trying.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption>
              Deliveries that failed after their last attempt, or on 410 Gone. Replay sends one
              again, with the same webhook-id.
            </caption>
            <ColumnHeads
              columns={[
                "Failed",
                "Task",
                "Subscription",
                "Event",
                "Attempts",
                "Last status",
                "Last error",
              ]}
              action
            />
            <tbody>
              {props.page.items.map((item) => (
                <tr>
                  <td>
                    <Time iso={item.failed_at} now={props.now} />
                  </td>
                  <td>
                    <a
                      class="mono"
                      href={`/tasks/${encodeURIComponent(item.task_id)}`}
                      title={item.task_id}
                    >
                      {shortId(item.task_id)}
                    </a>
                  </td>
                  <td>{item.subscription}</td>
                  <td>
                    <span class="mono" title={item.event}>
                      {shortEventId(item.event)}
                    </span>
                  </td>
                  <td class="num">{item.attempts}</td>
                  <td class="num">{item.last_status ?? ""}</td>
                  <td class="error-text">{item.last_error ?? ""}</td>
                  <td>
                    <PostButton
                      action={`/dead-letters/${encodeURIComponent(item.id)}/replay`}
                      session={props.session}
                    >
                      Replay
                      <span class="vh">{` the delivery to ${item.subscription} of task ${shortId(item.task_id)}`}</span>
                    </PostButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {props.paged && <a href="/dead-letters">First page</a>}
        {props.page.next_cursor && (
          <a rel="next" href={`/dead-letters?cursor=${encodeURIComponent(props.page.next_cursor)}`}>
            Next page
          </a>
        )}
      </nav>
    </Layout>
  );
}
