// The subscriptions: each subscriber's health (active, or paused after failures in a row, with
// its next probe and how many tasks wait), with a Resume button for a paused one.
import type { SubscriptionItem } from "../contract";
import { ColumnHeads, Layout, PostButton, Time } from "./layout";
import type { Session } from "./session";

export function SubscriptionsPage(props: {
  items: readonly SubscriptionItem[];
  session: Session;
  now: number;
  notice?: string | null;
}) {
  return (
    <Layout
      title="Subscriptions"
      session={props.session}
      section="subscriptions"
      notice={props.notice}
    >
      <h1>Subscriptions</h1>
      {props.items.length === 0 ? (
        <p class="empty">No subscriptions: SUBSCRIPTIONS lists none, so nothing is forwarded.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption>
              A subscription pauses after its failed attempts in a row reach pause_after_failures;
              its deliveries then wait, spending no attempts, and one probe at a time checks the
              subscriber until it answers again.
            </caption>
            <ColumnHeads
              columns={[
                "Subscription",
                "State",
                "Failures in a row",
                "Paused",
                "Next probe",
                "Tasks waiting",
              ]}
              action
            />
            <tbody>
              {props.items.map((item) => (
                <tr>
                  <td>
                    <strong>{item.id}</strong>
                    <br />
                    <span class="mono">{item.url}</span>
                  </td>
                  <td>
                    <span class={`badge badge-${item.state === "paused" ? "failed" : "completed"}`}>
                      {item.state}
                    </span>
                  </td>
                  <td class="num">{item.consecutive_failures}</td>
                  <td>{item.paused_at ? <Time iso={item.paused_at} now={props.now} /> : ""}</td>
                  <td>
                    {item.next_probe_at ? <Time iso={item.next_probe_at} now={props.now} /> : ""}
                  </td>
                  <td class="num">{item.waiting}</td>
                  <td>
                    {item.state === "paused" && (
                      <PostButton
                        action={`/subscriptions/${encodeURIComponent(item.id)}/resume`}
                        session={props.session}
                      >
                        Resume
                        <span class="vh">{` ${item.id}`}</span>
                      </PostButton>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
}
