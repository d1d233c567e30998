/**
 * Runs tasks one at a time, in the order they were asked for. A proxy's start, stop, watch and
 * apply go through one, so berthd's watcher and an operator's `berth proxy stop` never act on
 * the proxy at once (two of them starting it is how a second Caddy would come to run).
 */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(task);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
