import path from 'node:path';

/** Files of the builtin proxy under BERTH_HOME/proxy. */
export function proxyPaths(home: string) {
  const dir = path.join(home, 'proxy');
  return {
    dir,
    control: path.join(dir, 'control.sock'),
    table: path.join(dir, 'routes.json'),
    pid: path.join(dir, 'proxy.pid'),
    log: path.join(dir, 'proxy.log'),
    /** Present while the operator wants the proxy stopped. */
    stoppedMarker: path.join(dir, 'stopped'),
  } as const;
}
