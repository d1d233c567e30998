import type { InstanceStatus } from '../core/results.js';
import { nodeAddress, nodeName, readSwarm, taskTime, type TimedTask } from '../doctor/swarm-facts.js';
import type { ContainerEngine } from '../runtime/container-engine.js';
import { swarmServiceLogs, type SwarmLogOptions, type SwarmLogStream } from '../runtime/swarm-logs.js';
import { SwarmServices } from '../runtime/swarm-services.js';
import type { SwarmNode, SwarmTask } from '../runtime/swarm-types.js';
import { swarmTaskStatus } from './status.js';
import { compareText } from '../core/names.js';

/** Which of the home's tasks: an app's, an environment's, a service's (each optional). */
export interface TaskFilter {
  readonly app?: string | undefined;
  readonly env?: string | undefined;
  readonly service?: string | undefined;
}

/** A line a task wrote, with the Berth service, the task's slot (its instance) and its node's name. */
export interface TaskLine {
  readonly service: string;
  readonly instance: number;
  readonly task: string;
  readonly node: string;
  readonly line: string;
}

/** How long a failed task stays in `berth ps` (Swarm keeps a few per slot for longer: restarts counts them). */
const FAILED_SHOWN_MS = 10 * 60_000;
const FAILED = new Set(['failed', 'rejected']);

const labelsOf = (f: TaskFilter): Record<string, string> => ({
  ...(f.app !== undefined ? { 'berth.app': f.app } : {}),
  ...(f.env !== undefined ? { 'berth.env': f.env } : {}),
  ...(f.service !== undefined ? { 'berth.service': f.service } : {}),
});

/**
 * The tasks of this home's Swarm services as `berth ps` and `berth logs` show them: each task that runs or is
 * meant to (and those that failed in the last minutes) as a row of the status module, and their output with
 * each line's service, slot and node. Read from the manager on each call: Swarm is the truth about its tasks.
 */
export class SwarmTasks {
  readonly #engine: ContainerEngine;
  readonly #home: string;
  readonly #services: SwarmServices;

  constructor(engine: ContainerEngine, home: string) {
    this.#engine = engine;
    this.#home = home;
    this.#services = new SwarmServices(engine);
  }

  /** The rows of the tasks of environments in `current` (`app/env` -> its current release number, or null). */
  async status(f: TaskFilter, current: ReadonlyMap<string, number | null>): Promise<InstanceStatus[]> {
    const facts = await readSwarm(this.#engine, this.#home, labelsOf(f));
    if (!facts) return [];
    const now = Date.now();
    const nodes = new Map(facts.nodes.map((n) => [n.ID, n]));
    const slot = (t: SwarmTask) => `${t.ServiceID}/${t.Slot ?? t.NodeID}`;
    const failures = new Map<string, number>();
    for (const t of facts.tasks)
      if (FAILED.has(t.Status.State)) failures.set(slot(t), (failures.get(slot(t)) ?? 0) + 1);
    const rows: InstanceStatus[] = [];
    for (const t of facts.tasks) {
      const l = t.Spec.ContainerSpec.Labels ?? {};
      const app = l['berth.app'] ?? '';
      const env = l['berth.env'] ?? '';
      const cur = current.get(`${app}/${env}`);
      if (cur === undefined || !shown(t, now)) continue;
      const node = t.NodeID !== undefined ? nodes.get(t.NodeID) : undefined;
      const port = t.Status.PortStatus?.Ports?.[0]?.PublishedPort;
      const release = Number(l['berth.release']);
      const place = {
        app,
        env,
        service: l['berth.service'] ?? '',
        release,
        current: cur === release,
        node: node ? nodeName(node) : (t.NodeID ?? '-'),
        address: node && port !== undefined ? `${nodeAddress(node)}:${port}` : null,
        restarts: failures.get(slot(t)) ?? 0,
      };
      rows.push(swarmTaskStatus(t, place, now));
    }
    return rows.sort(
      (a, b) =>
        compareText(a.service, b.service) ||
        a.instance - b.instance ||
        Number(FAILED.has(a.state)) - Number(FAILED.has(b.state)) ||
        b.since - a.since,
    );
  }

  /**
   * The output of the tasks of an app's services (`f.service`: one of them), in the order each task wrote it,
   * handed to `onLine` with its service, slot and node. With `follow`, until `stop` (or the services go).
   */
  async logs(f: TaskFilter, o: SwarmLogOptions, onLine: (l: TaskLine) => void): Promise<SwarmLogStream> {
    const services = await this.#services.list({ 'berth.home': this.#home, ...labelsOf(f) });
    if (services.length === 0) return { done: Promise.resolve(), stop: () => undefined };
    const names = new TaskNames(
      this.#engine,
      services.map((s) => s.ID),
    );
    let order = Promise.resolve();
    const streams = await Promise.all(
      services.map((s) =>
        swarmServiceLogs(this.#engine, s.ID, o, (l) => {
          // In order: a task Swarm started after the first read is looked up before its line is handed on.
          order = order.then(async () => {
            const { instance, node } = await names.of(l.task, l.node);
            onLine({
              service: s.Spec.Labels['berth.service'] ?? s.Spec.Name,
              instance,
              node,
              task: l.task,
              line: l.line,
            });
          });
        }),
      ),
    );
    return {
      done: Promise.all(streams.map((s) => s.done)).then(() => order),
      stop: () => streams.forEach((s) => s.stop()),
    };
  }
}

/** Task ids to slots and node ids to names, read once and again when a line names a task not seen yet. */
class TaskNames {
  #tasks = new Map<string, number>();
  #nodes = new Map<string, string>();
  #read: Promise<void> | undefined;

  constructor(
    readonly engine: ContainerEngine,
    readonly services: readonly string[],
  ) {}

  async of(task: string, node: string): Promise<{ instance: number; node: string }> {
    if (!this.#tasks.has(task)) {
      await (this.#read ??= this.#reread());
      if (!this.#tasks.has(task)) this.#tasks.set(task, 0); // gone already: read once, not on each of its lines
    }
    return { instance: this.#tasks.get(task) ?? 0, node: this.#nodes.get(node) ?? node.slice(0, 12) };
  }

  async #reread(): Promise<void> {
    const filters = encodeURIComponent(JSON.stringify({ service: this.services }));
    const [tasks, nodes] = await Promise.all([
      this.engine.call<TimedTask[]>('GET', `/tasks?filters=${filters}`).catch(() => []),
      this.engine.call<SwarmNode[]>('GET', '/nodes').catch(() => []),
    ]);
    for (const t of tasks) this.#tasks.set(t.ID, t.Slot ?? 0);
    for (const n of nodes) this.#nodes.set(n.ID, nodeName(n));
    this.#read = undefined;
  }
}

/** Whether `berth ps` lists a task: it runs or is meant to, or it failed in the last minutes. */
function shown(t: TimedTask, now: number): boolean {
  if (t.DesiredState === 'running' || t.Status.State === 'running') return true;
  return FAILED.has(t.Status.State) && now - taskTime(t) < FAILED_SHOWN_MS;
}
