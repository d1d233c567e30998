import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { TestDockerd } from './dockerd.js';

/**
 * Podman's Docker-compatible API service (`podman system service`) for one test file, in place of
 * a private dockerd: its own storage root, run root and socket under `dir`, cgroups by cgroupfs and
 * events to a file (systemd is not PID 1 here), its networks made by the CNI plugins Debian ships
 * with podman. Same surface as TestDockerd, so a test runs unchanged against either engine.
 */
export class TestPodman extends TestDockerd {
  /** The service leaves its containers running (conmon holds them): remove them through the API first. */
  override async stop(): Promise<void> {
    try {
      const all = await this.engine.call<{ Id: string }[]>('GET', '/containers/json?all=1');
      for (const c of all) await this.engine.call('DELETE', `/containers/${c.Id}?force=1&v=1`);
      const networks = await this.engine.call<{ Name: string }[]>('GET', '/networks');
      for (const n of networks.filter((x) => x.Name !== 'podman')) {
        await this.engine.call('DELETE', `/networks/${encodeURIComponent(n.Name)}`);
        // the CNI host-local plugin keeps its leases there, whatever the config dir
        rmSync(path.join('/var/lib/cni/networks', path.basename(n.Name)), { recursive: true, force: true });
      }
    } catch {
      // not started, or already gone
    }
    await super.stop();
  }

  /**
   * Podman gives each container RLIMIT_NOFILE 1048576 and a raised RLIMIT_NPROC unless told otherwise,
   * and this machine's hard limits forbid raising them: the containers get this process's hard limits.
   * Its networks' files stay under `dir` (--network-config-dir), and stop() removes the networks.
   */
  override async start(): Promise<void> {
    const conf = path.join(this.dir, 'containers.conf');
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const hard = (name: string) => new RegExp(`^Max ${name}\\s+\\S+\\s+(\\d+)`, 'm').exec(limits)?.[1] ?? '1024';
    const [files, procs] = [hard('open files'), '4096'];
    writeFileSync(conf, `[containers]\ndefault_ulimits = ["nofile=${files}:${files}", "nproc=${procs}:${procs}"]\n`);
    process.env.CONTAINERS_CONF = conf;
    await super.start();
  }

  /** Stops the service, unmounts what its storage left mounted under `dir`, removes `dir`. */
  override async remove(): Promise<void> {
    await this.stop();
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((point) => point.startsWith(this.dir + '/'))
      .sort((a, b) => b.length - a.length);
    for (const point of mounts) spawnSync('umount', ['-l', point], { stdio: 'ignore' });
    rmSync(this.dir, { recursive: true, force: true });
  }

  protected override command(): [string, string[]] {
    return [
      'podman',
      [
        '--root',
        path.join(this.dir, 'root'),
        '--runroot',
        path.join(this.dir, 'run'),
        '--cgroup-manager',
        'cgroupfs',
        '--network-config-dir',
        path.join(this.dir, 'cni'),
        '--tmpdir',
        path.join(this.dir, 'tmp'),
        '--events-backend',
        'file',
        '--log-level',
        'warn',
        'system',
        'service',
        '--time',
        '0',
        `unix://${this.socket}`,
      ],
    ];
  }
}
