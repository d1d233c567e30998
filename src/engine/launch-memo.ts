/**
 * What the instances of one wave share when they start: the app's system user (and its
 * directories made sure of), the release's service addresses and the environment's secrets.
 * Looked up once per wave instead of once per instance: a 1,000-service wave made each of
 * them 1,000 times over (a scan of /etc/passwd and nine chowns, two joins, a decryption), the
 * largest share of the event loop's time after the spawns. A wave's addresses cannot change
 * while it starts (they are leased after it), and every instance of a wave gets the same
 * secrets, as they were when it began. Without a memo (a restart, an adoption) each start
 * looks them up itself.
 */
export class LaunchMemo {
  readonly #values = new Map<string, Promise<unknown>>();

  /** The value under `key`, loaded by the first caller; a failure is every caller's failure. */
  get<T>(key: string, load: () => Promise<T>): Promise<T> {
    let value = this.#values.get(key) as Promise<T> | undefined;
    if (!value) {
      value = load();
      this.#values.set(key, value);
    }
    return value;
  }
}
