import type { EnvEntry } from './process-def.js';
import { shellWords } from './shell-words.js';

/** The port a process listened on, as far as its command line and environment tell. */
export interface ListenPort {
  readonly port: number;
  /** `PORT` in its environment, or the flag that set it (`--port 8000`). */
  readonly from: string;
}

const PORT_FLAGS = new Set(['--port', '-p', '--http-port', '--listen-port']);
const BIND_FLAGS = new Set(['--bind', '-b', '--listen', '--address', '--host']);

/**
 * The port from the command's flags (`--port 8000`, `-p 3001`, `--bind 0.0.0.0:8000`,
 * `python -m http.server 8000`) first, else from `PORT` in its environment; null when neither says.
 */
export function listenPort(command: string | readonly string[], env: readonly EnvEntry[]): ListenPort | null {
  for (const { word: w, flag, value } of flagPairs(command)) {
    if (value === undefined) continue;
    if (PORT_FLAGS.has(flag) && isPort(value)) return { port: Number(value), from: `${flag} ${value}` };
    if (BIND_FLAGS.has(flag)) {
      const m = /:(\d{1,5})$/.exec(value);
      if (m && isPort(m[1] as string)) return { port: Number(m[1]), from: `${flag} ${value}` };
    }
    if (w === 'http.server' && isPort(value)) return { port: Number(value), from: `http.server ${value}` };
  }
  const port = [...env].reverse().find((e) => e.key === 'PORT');
  return port && isPort(port.value) ? { port: Number(port.value), from: 'PORT in its environment' } : null;
}

/** The address it bound to all interfaces with (`--host 0.0.0.0`, `--bind 0.0.0.0:8000`, `HOST=0.0.0.0`), if any. */
export function bindsAllInterfaces(command: string | readonly string[], env: readonly EnvEntry[]): string | null {
  for (const { flag, value } of flagPairs(command)) {
    if (BIND_FLAGS.has(flag) && value !== undefined && /^(0\.0\.0\.0|\[?::\]?)(:\d+)?$/.test(value))
      return `${flag} ${value}`;
  }
  const host = env.find((e) => e.key === 'HOST' || e.key === 'HOSTNAME_BIND');
  return host && /^(0\.0\.0\.0|::)$/.test(host.value) ? `${host.key}=${host.value}` : null;
}

/** Each word of the command with the flag it is (`--port=8000` is `--port`) and the value after it. */
function flagPairs(command: string | readonly string[]): { word: string; flag: string; value: string | undefined }[] {
  const words = commandWords(command);
  return words.map((word, i) => {
    const eq = word.indexOf('=');
    const split = word.startsWith('-') && eq > 0;
    return { word, flag: split ? word.slice(0, eq) : word, value: split ? word.slice(eq + 1) : words[i + 1] };
  });
}

function commandWords(command: string | readonly string[]): readonly string[] {
  if (typeof command !== 'string') {
    // `sh -c "<line>"` / `bash -c`: the line is the command.
    const c = command.indexOf('-c');
    if (c >= 0 && /(^|\/)(ba)?sh$/.test(command[0] ?? '') && command[c + 1] !== undefined)
      return shellWords(command[c + 1] as string) ?? [];
    return command;
  }
  return shellWords(command) ?? command.split(/\s+/);
}

function isPort(text: string): boolean {
  return /^\d{1,5}$/.test(text) && Number(text) > 0 && Number(text) < 65536;
}
