/**
 * A mutex for async work in this process: `run` calls execute one after another, in call order.
 * A failing call does not stop the next: its caller gets the rejection, the queue goes on. A waiting call cannot be aborted: keep what runs inside short
 * (the providers' address pick + record save). Not shared between processes.
 */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    // fn gets no argument (not the previous call's result or reason).
    const result = this.tail.then(() => fn(), () => fn());
    this.tail = result.catch(() => undefined);
    return result;
  }
}
