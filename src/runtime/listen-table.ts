import { listeners, type Listener } from '../system/sockets.js';
import { spawner } from './spawner.js';

/**
 * Every listening TCP socket in berthd's network namespace, as `listeners()` reads them from /proc/net/tcp and tcp6,
 * but asked of the launcher (src/native/listen-table.c): a netlink sock_diag dump of sockets in LISTEN state only.
 *
 * Why (issue 14): a read of /proc/net/tcp or tcp6 walks the kernel's whole socket hash table, whatever it holds:
 * 5-25 ms each on this machine (more under load), on berthd's single thread, twice in every deploy's pre-flight doctor
 * and again when a readiness probe verifies that the instance holds its port. The dump walks the listening sockets
 * only: tens of microseconds in the launcher, plus a line on its pipe. Where no launcher can answer (not built, gone,
 * a kernel without sock_diag), the tables are read from /proc as before: the same answer, slower.
 */
export async function listeningSockets(): Promise<Listener[]> {
  const line = await spawner.listenTable();
  const parsed = line === undefined ? undefined : parseListenTable(line);
  return parsed ?? listeners();
}

/**
 * The launcher's answer: "L 0 <family>,<address>,<port>,<inode> ..." (addresses as /proc/net prints them), or
 * "L <errno>" when the kernel refused the dump: undefined then.
 */
export function parseListenTable(line: string): Listener[] | undefined {
  const [kind, status, ...entries] = line.split(' ');
  if (kind !== 'L' || status !== '0') return undefined;
  const out: Listener[] = [];
  for (const entry of entries) {
    const [family, address, port, inode] = entry.split(',');
    if (!address || !inode || (family !== '4' && family !== '6')) return undefined;
    out.push({ address, port: Number(port), inode, state: LISTEN });
  }
  return out;
}

/** The kernel's TCP_LISTEN, as /proc/net/tcp writes it. */
const LISTEN = '0A';

/** The inodes of the sockets listening on `port` (IPv4, IPv6 and dual-stack), from one table of them. */
export async function listeningInodes(port: number): Promise<string[]> {
  return (await listeningSockets()).filter((l) => l.port === port).map((l) => l.inode);
}
