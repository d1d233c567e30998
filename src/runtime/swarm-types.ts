/*
 * The parts of the Docker Engine API's Swarm objects Berth reads and writes (API 1.41, Docker 20.10 and later),
 * spelled as the engine spells them. Durations are nanoseconds, as the API takes them.
 */

/** GET /info's `Swarm`: whether this engine is in a swarm, and whether it can manage it. */
export interface SwarmInfo {
  readonly NodeID: string;
  readonly NodeAddr: string;
  readonly LocalNodeState: 'inactive' | 'pending' | 'active' | 'error' | 'locked';
  readonly ControlAvailable: boolean;
  readonly Error: string;
  readonly Nodes?: number;
  readonly Managers?: number;
}

export type NodeAvailability = 'active' | 'pause' | 'drain';

export interface NodeSpec {
  readonly Name?: string;
  readonly Labels?: Readonly<Record<string, string>>;
  readonly Role: 'worker' | 'manager';
  readonly Availability: NodeAvailability;
}

/** GET /nodes: one machine of the swarm. */
export interface SwarmNode {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly Spec: NodeSpec;
  readonly Description: { readonly Hostname: string; readonly Engine?: { readonly EngineVersion?: string } };
  readonly Status: { readonly State: 'unknown' | 'down' | 'ready' | 'disconnected'; readonly Addr: string };
  readonly ManagerStatus?: { readonly Leader?: boolean; readonly Reachability: string; readonly Addr: string };
}

/** The container's own health check: the engine runs `Test` inside it. */
export interface Healthcheck {
  readonly Test: readonly string[];
  readonly Interval?: number;
  readonly Timeout?: number;
  readonly Retries?: number;
  readonly StartPeriod?: number;
}

/** How Swarm replaces tasks on an update (UpdateConfig) or a rollback (RollbackConfig). */
export interface UpdatePolicy {
  readonly Parallelism: number;
  readonly Delay?: number;
  readonly FailureAction: 'pause' | 'continue' | 'rollback';
  /** How long each new task is watched for a failure after it started. */
  readonly Monitor: number;
  readonly MaxFailureRatio: number;
  readonly Order: 'stop-first' | 'start-first';
}

export interface PortConfig {
  readonly Protocol: 'tcp' | 'udp';
  readonly TargetPort: number;
  /** Omitted with PublishMode host: the node's engine picks a free port per task (see SwarmTask's PortStatus). */
  readonly PublishedPort?: number;
  readonly PublishMode: 'ingress' | 'host';
}

export interface ServiceSpec {
  readonly Name: string;
  readonly Labels: Readonly<Record<string, string>>;
  readonly TaskTemplate: {
    readonly ContainerSpec: {
      readonly Image: string;
      readonly Labels?: Readonly<Record<string, string>>;
      readonly Command?: readonly string[];
      readonly Args?: readonly string[];
      readonly Env?: readonly string[];
      readonly User?: string;
      /** A `volume` mount's source is a named volume of the task's node, which its engine makes on first use. */
      readonly Mounts?: readonly { readonly Type: 'volume'; readonly Source: string; readonly Target: string }[];
      readonly Healthcheck?: Healthcheck;
      readonly StopGracePeriod?: number;
    };
    readonly RestartPolicy?: { readonly Condition: 'none' | 'on-failure' | 'any'; readonly Delay?: number };
    readonly Placement?: {
      readonly Constraints?: readonly string[];
      readonly Preferences?: readonly { readonly Spread: { readonly SpreadDescriptor: string } }[];
      readonly MaxReplicas?: number;
    };
    readonly Networks?: readonly { readonly Target: string; readonly Aliases?: readonly string[] }[];
    readonly ForceUpdate?: number;
  };
  readonly Mode: { readonly Replicated: { readonly Replicas: number } };
  readonly UpdateConfig?: UpdatePolicy;
  readonly RollbackConfig?: UpdatePolicy;
  readonly EndpointSpec?: { readonly Mode: 'vip' | 'dnsrr'; readonly Ports?: readonly PortConfig[] };
}

/** Where a service's last update stands: `rollback_completed` is Swarm's word that it undid a failed one. */
export type UpdateState =
  'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface SwarmService {
  readonly ID: string;
  readonly Version: { readonly Index: number };
  readonly Spec: ServiceSpec;
  readonly PreviousSpec?: ServiceSpec;
  readonly UpdateStatus?: { readonly State: UpdateState; readonly Message?: string };
}

export type TaskState =
  | 'new'
  | 'allocated'
  | 'pending'
  | 'assigned'
  | 'accepted'
  | 'preparing'
  | 'ready'
  | 'starting'
  | 'running'
  | 'complete'
  | 'shutdown'
  | 'failed'
  | 'rejected'
  | 'remove'
  | 'orphaned';

/** GET /tasks: one container of a service on one node, in the spec it was made for. */
export interface SwarmTask {
  readonly ID: string;
  readonly ServiceID: string;
  readonly NodeID?: string;
  readonly Slot?: number;
  readonly Spec: ServiceSpec['TaskTemplate'];
  readonly DesiredState: TaskState;
  readonly Status: {
    readonly State: TaskState;
    readonly Message?: string;
    readonly Err?: string;
    readonly ContainerStatus?: { readonly ContainerID?: string; readonly ExitCode?: number };
    readonly PortStatus?: { readonly Ports?: readonly PortConfig[] };
  };
}
