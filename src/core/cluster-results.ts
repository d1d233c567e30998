/** One machine of the swarm, as `berth cluster ls` shows it. */
export interface ClusterNodeView {
  readonly id: string;
  /** Its name in the swarm (set with a node update), else its hostname. */
  readonly name: string;
  readonly hostname: string;
  readonly role: 'manager' | 'worker';
  /** active: takes tasks; drain: its tasks moved to the others and it takes none; pause: keeps its tasks, takes none. */
  readonly availability: 'active' | 'pause' | 'drain';
  /** ready, down, disconnected or unknown, as the managers see it. */
  readonly state: string;
  readonly address: string;
  readonly leader: boolean;
  /** Whether this is the node of the engine berthd talks to. */
  readonly self: boolean;
  readonly engineVersion: string | null;
}

/** The swarm of this host's container engine. */
export interface ClusterView {
  readonly nodeId: string;
  readonly nodes: readonly ClusterNodeView[];
}
