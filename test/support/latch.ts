// A promise a test opens by hand: to hold a fake (an image host, GoAPI, a binding) at a point
// of its work until the test has done what must happen meanwhile.

/** `[opened, open]`: `opened` resolves once `open()` is called. */
export function latch(): [Promise<void>, () => void] {
  let open = () => {};
  const opened = new Promise<void>((done) => {
    open = done;
  });
  return [opened, open];
}
