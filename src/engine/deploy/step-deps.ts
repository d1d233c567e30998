import type { Logger } from 'pino';
import type { Manifest } from '../../config/manifest-types.js';
import type { ManifestParse } from '../../config/manifest.js';
import type { DeployResult } from '../../core/results.js';
import type { Finding } from '../../doctor/finding.js';
import type { Proxy } from '../../proxy/proxy.js';
import type { ContainerEngine } from '../../runtime/container-engine.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import type { AppUsers } from '../app-users.js';
import type { InstanceManager } from '../instance-manager.js';
import type { PortAllocator } from '../port-allocator.js';
import type { RouteSync } from '../route-sync.js';
import type { SwarmDeploys } from '../swarm-deploys.js';

/** What a deployment's steps use of berthd: its store, runtime, proxy and host settings. */
export interface StepDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly instances: InstanceManager;
  readonly ports: PortAllocator;
  readonly routes: RouteSync;
  readonly proxy: Proxy;
  readonly log: Logger;
  /** Releases kept per environment, the current one included. */
  readonly keepReleases: number;
  /** `berth doctor` for one app: the deploy's pre-flight. */
  readonly doctor: (app: string) => Promise<Finding[]>;
  /** The container engine's client (host setting `container_engine`), for image builds; none without one. */
  readonly engine?: ContainerEngine | undefined;
  /** This BERTH_HOME's identity on the engine: the label `berth.home` of the images it builds. */
  readonly engineHome?: string | undefined;
  /** Per-app system users, when berthd runs as root. */
  readonly users?: AppUsers;
  /** The app's secrets for an environment, for its builds. */
  readonly secretEnv?: (app: string, env: string) => Promise<Record<string, string>>;
  /** PATH of builds (host setting `app_path`); default the system's standard PATH. */
  readonly appPath?: string;
  /** Parses a berth.yaml (berthd: off its event loop, with the host's limits). Default `parseManifest`. */
  readonly parseManifest?: ManifestParse;
  /** With host setting `scheduler: swarm`: the containers of deployments go to the engine's swarm. */
  readonly swarm?: SwarmDeploys | undefined;
  /** Told after every deployment ends (the expiry timer of previews starts anew). */
  readonly onFinished?: (result: DeployResult, manifest: Manifest) => void;
}
