/**
 * A mutex for async work in this process: `run` calls execute one after another, in call order.
 * A failing call does not stop the next. A waiting call cannot be aborted: keep what runs inside short
 * (the providers' address pick + record save). Not shared between processes.
 */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
