import { Checklist, type ProcessDef } from './process-def.js';

/**
 * A Procfile: `<type>: <command>` per line. `release` is the release hook (returned apart); every
 * other type is a process. Heroku's `web` gets the port ($PORT); other types are workers unless
 * their command names $PORT.
 */
export function readProcfile(
  text: string,
  file: string,
  list: Checklist,
): { processes: ProcessDef[]; release: string | null } {
  const processes: ProcessDef[] = [];
  let release: string | null = null;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const origin = `${file} line ${i + 1}`;
    const m = /^([A-Za-z0-9_-]+)\s*:\s*(.+)$/.exec(line);
    if (!m) return list.notMapped(origin, 'not a "<type>: <command>" line');
    const [, type, command] = m as unknown as [string, string, string];
    if (type === 'release') {
      release = command;
      return;
    }
    processes.push({
      name: type,
      origin,
      command,
      cwd: null,
      env: [],
      user: null,
      restart: null,
      instances: 1,
      stopTimeout: null,
      state: null,
    });
  });
  return { processes, release };
}
