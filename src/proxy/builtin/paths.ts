import path from 'node:path';

/** The fds of the listening sockets a kept worker inherits (HTTP, control), as BERTH_PROXY_FDS says to it. */
export const INHERITED_FDS = '3,4';

/** Files of the builtin proxy under BERTH_HOME/proxy. */
export function proxyPaths(home: string) {
  const dir = path.join(home, 'proxy');
  return {
    dir,
    control: path.join(dir, 'control.sock'),
    /** Where berthd binds the control socket before it hands it to the keeper and renames it to `control`. */
    controlBinding: path.join(dir, 'control.sock.new'),
    table: path.join(dir, 'routes.json'),
    /** The serving process (the worker): `pid startTicks port`. */
    pid: path.join(dir, 'proxy.pid'),
    /** Its keeper, which holds the listening sockets: `pid startTicks port`. */
    keeperPid: path.join(dir, 'keeper.pid'),
    log: path.join(dir, 'proxy.log'),
    /** Present while the operator wants the proxy stopped. */
    stoppedMarker: path.join(dir, 'stopped'),
  } as const;
}
