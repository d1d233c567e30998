/**
 * berthd is idle most of its life, and V8 collects only when it allocates: the garbage of its start (the modules'
 * evaluation, the migrations, the API's setup) and of each burst of requests (a deploy, 100 services removed) stayed
 * in its heap for as long as it was quiet, ~10 MiB of its idle RSS (issue 14: 70 MiB at 12 s idle, 60 MiB after one
 * collection). So once berthd has been quiet for `quietMs` after its start or its last request, it collects once:
 * ~10-20 ms of CPU per burst of work, never while requests keep coming, nothing while idle. Needs `gc` (berthd
 * runs with --expose-gc, DAEMON_NODE_FLAGS); without it, this does nothing.
 */
export class IdleGc {
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(quietMs = 2000, gc = (globalThis as { gc?: () => void }).gc) {
    this.#timer = gc && setTimeout(() => gc(), quietMs).unref();
  }

  /** Work happened: collect `quietMs` after it (refresh re-arms a timer that already fired). */
  poke(): void {
    this.#timer?.refresh();
  }
}
