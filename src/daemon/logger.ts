import pino from 'pino';
import type { Secrets } from '../engine/secrets.js';

/**
 * berthd's own log: JSON lines with its pid and an ISO time. Secret values never reach it: a line
 * about an app (`{ app }` first) is redacted with that app's secrets, every other line with all of
 * them, once `loaded.secrets` is set (the log exists before the store and the secrets are open).
 */
export function daemonLogger(loaded: { readonly secrets?: Secrets }): pino.Logger {
  return pino({
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    hooks: {
      logMethod(args, method) {
        const about: unknown = typeof args[0] === 'object' ? (args[0] as { app?: unknown } | null)?.app : undefined;
        const scope = typeof about === 'string' ? [about] : [];
        method.apply(this, args.map((a) => loaded.secrets?.redact(a, scope) ?? a) as Parameters<typeof method>);
      },
    },
  });
}
