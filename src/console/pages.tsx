// The console's small pages: sign-in, "the console is off", and errors.
import { Layout } from "./layout";
import type { Session } from "./session";

/** The sign-in form; `next` is where to go after it (a path of this console). */
export function SignInPage(props: {
  error?: string | null;
  notice?: string | null;
  next?: string;
}) {
  return (
    <Layout title="Sign in" session={null} notice={props.notice} error={props.error}>
      <section class="signin" aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to midhook</h1>
        <p>Use the admin token this midhook runs with (ADMIN_TOKEN).</p>
        <form method="post" action="/sign-in">
          <input type="hidden" name="next" value={props.next ?? "/"} />
          <label for="token">Admin token</label>
          <input
            id="token"
            name="token"
            type="password"
            autocomplete="current-password"
            required
            autofocus
          />
          <button type="submit" class="primary">
            Sign in
          </button>
        </form>
      </section>
    </Layout>
  );
}

/** ADMIN_TOKEN is not set: the console (like the admin API) is off. */
export function ConsoleOffPage(props: { reason?: string }) {
  return (
    <Layout title="Console off" session={null}>
      <section class="signin">
        <h1>The console is off</h1>
        {props.reason === undefined ? null : (
          <p class="alert" role="alert">
            {props.reason}
          </p>
        )}
        <p>
          Set the <code>ADMIN_TOKEN</code> secret to turn on the console and the admin API (
          <code>npx wrangler secret put ADMIN_TOKEN</code>, or <code>.dev.vars</code> locally).
        </p>
      </section>
    </Layout>
  );
}

/** An error a console request ran into, with the way back. */
export function ErrorPage(props: { title: string; message: string; session: Session | null }) {
  return (
    <Layout title={props.title} session={props.session}>
      <h1>{props.title}</h1>
      <p class="alert" role="alert">
        {props.message}
      </p>
      <p>
        <a href="/">Back to the tasks</a>
      </p>
    </Layout>
  );
}
