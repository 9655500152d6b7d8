/**
 * `run`, called at most once per turn of the event loop however often the result is called: for
 * wake-ups such as "something committed", where many calls in one turn need one message.
 */
export function oncePerTurn(run: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      run();
    });
  };
}
