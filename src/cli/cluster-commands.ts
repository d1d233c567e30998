import type { Command } from 'commander';
import type { ClusterNodeView, ClusterView } from '../core/cluster-results.js';
import { ApiError } from '../api/client.js';
import { table } from './render.js';
import { readPassword, type Io } from './secret-commands.js';

export function renderCluster(v: ClusterView): string {
  const rows = v.nodes.map((n) => [
    n.id.slice(0, 12) + (n.self ? ' *' : ''),
    n.name,
    n.role + (n.leader ? ' (leader)' : ''),
    n.availability,
    n.state,
    n.address,
    n.engineVersion ?? '-',
  ]);
  const drained = v.nodes.filter((n) => n.availability !== 'active').map((n) => n.name);
  const down = v.nodes.filter((n) => n.state !== 'ready').map((n) => n.name);
  return [
    table(['ID', 'NAME', 'ROLE', 'AVAILABILITY', 'STATE', 'ADDRESS', 'ENGINE'], rows),
    '',
    `${v.nodes.length} node(s); * is this host's engine` +
      (drained.length ? `; not taking tasks: ${drained.join(', ')} (berth cluster activate <node>)` : '') +
      (down.length ? `; not ready: ${down.join(', ')}` : ''),
  ].join('\n');
}

function renderNode(n: ClusterNodeView): string {
  const what = {
    drain: 'drained: Swarm moves its tasks to the other nodes',
    pause: 'paused: it keeps its tasks and takes no new ones',
    active: 'active: it takes tasks',
  };
  return `node ${n.name} (${n.id.slice(0, 12)}) ${what[n.availability]}`;
}

/** `berth cluster init | join | ls | drain | activate | token`: the Docker Swarm of this host's engine. */
export function registerClusterCommands(program: Command, io: Io): void {
  const cluster = program
    .command('cluster')
    .description("the Docker Swarm of this host's container engine: make one, join one, its nodes");
  cluster
    .command('init')
    .description("make this host's engine the first manager of a new swarm")
    .requiredOption('--advertise-addr <address>', 'the address the other nodes reach this one at (IP or interface)')
    .option('--listen-addr <address>', 'where it listens for the swarm (default 0.0.0.0:2377)')
    .option('--json', 'print JSON')
    .action(async (opts: { advertiseAddr: string; listenAddr?: string }) => {
      const v = await io.call<ClusterView>('POST', '/v1/cluster/init', {
        advertise: opts.advertiseAddr,
        ...(opts.listenAddr ? { listen: opts.listenAddr } : {}),
      });
      io.print(v, () =>
        [
          renderCluster(v),
          '',
          'to add a node: berth cluster token worker | (on the node) berth cluster join <this address> --advertise-addr <its address> --token-stdin',
        ].join('\n'),
      );
    });
  cluster
    .command('join')
    .description("join this host's engine to the swarm a manager runs (the token on standard input)")
    .argument('<manager>', "a manager's address (host or host:port, default port 2377)")
    .requiredOption('--advertise-addr <address>', 'the address the other nodes reach this one at')
    .option('--token-stdin', 'read the join token from standard input (berth cluster token on a manager prints it)')
    .option('--json', 'print JSON')
    .action(async (manager: string, opts: { advertiseAddr: string; tokenStdin?: boolean }) => {
      if (!opts.tokenStdin && !process.stdin.isTTY)
        throw new ApiError(
          0,
          'token_needed',
          'no terminal to type the join token in',
          'pipe it in with --token-stdin (berth cluster token worker, on a manager, prints it)',
        );
      const token = (await readPassword(opts.tokenStdin, 'join token: ')).trim();
      const r = await io.call<{ joined: string; state: string }>('POST', '/v1/cluster/join', {
        manager,
        token,
        advertise: opts.advertiseAddr,
      });
      io.print(r, () => `joined the swarm of ${r.joined} (this node: ${r.state})`);
    });
  cluster
    .command('ls')
    .description('the nodes of the swarm: role, availability, state, address')
    .option('--json', 'print JSON')
    .action(async () => {
      const v = await io.call<ClusterView>('GET', '/v1/cluster');
      io.print(v, () => renderCluster(v));
    });
  for (const [name, availability, what] of [
    ['drain', 'drain', 'move the tasks of a node to the others; it takes no new ones'],
    ['activate', 'active', 'let a drained or paused node take tasks again'],
    ['pause', 'pause', 'keep the tasks of a node where they are; it takes no new ones'],
  ] as const) {
    cluster
      .command(name)
      .description(what)
      .argument('<node>', 'its name, hostname or id (berth cluster ls)')
      .option('--json', 'print JSON')
      .action(async (node: string) => {
        const n = await io.call<ClusterNodeView>('POST', `/v1/cluster/nodes/${encodeURIComponent(node)}/availability`, {
          availability,
        });
        io.print(n, () => renderNode(n));
      });
  }
  cluster
    .command('token')
    .description('print the token a worker (or a manager) joins with: a credential, keep it out of logs')
    .argument('[role]', 'worker or manager', 'worker')
    .action(async (role: string) => {
      const r = await io.call<{ token: string }>('GET', `/v1/cluster/token?role=${encodeURIComponent(role)}`);
      process.stdout.write(`${r.token}\n`);
    });
}
