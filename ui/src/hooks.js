import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/**
 * Loads `fn()` when `deps` change and every `ms` (when given) after; `reload()` loads again now.
 * An error is kept beside the last data, so a failed refresh does not blank the view.
 */
export function useLoad(fn, deps, ms) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const [tick, setTick] = useState(0);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    let live = true;
    let timer;
    const run = async () => {
      try {
        const data = await latest.current();
        if (live) setState({ data, error: undefined });
      } catch (error) {
        if (live) setState((s) => ({ data: s.data, error }));
      }
      if (live && ms) timer = setTimeout(run, ms);
    };
    void run();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** The part of the address after `#`, as path segments: `#/app/shop/production/logs` -> ['app', 'shop', ...]. */
export function useHashPath() {
  const read = () =>
    location.hash
      .replace(/^#\/?/, '')
      .split('/')
      .filter(Boolean)
      .map((s) => decodeURIComponent(s));
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const on = () => setParts(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return parts;
}

export const when = (ms) => (ms ? new Date(ms).toLocaleString() : '');
export const clock = (ms) => (ms ? new Date(ms).toLocaleTimeString() : '');
