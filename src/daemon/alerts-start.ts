import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Alerter } from '../alerts/alerter.js';
import type { HostSettings } from '../config/host-settings.js';
import type { InstanceManager } from '../engine/instance-manager.js';
import type { Secrets } from '../engine/secrets.js';
import type { Store } from '../store/store.js';
import type { DoctorRun } from './doctor-run.js';

/**
 * berthd's alerts, when config.yaml has `alerts:`: an instance entering crashloop is looked at
 * at once (it leaves that state at its next restart); `start` once berthd serves.
 */
export function makeAlerter(o: {
  settings: HostSettings;
  store: Store;
  home: string;
  log: Logger;
  doctor: DoctorRun;
  secrets: Secrets;
  instances: InstanceManager;
}): Alerter | undefined {
  const settings = o.settings.alerts;
  if (!settings) return undefined;
  const alerter = new Alerter({
    settings,
    host: hostname(),
    allow: o.settings.outboundAllow,
    store: o.store,
    home: o.home,
    log: o.log,
    doctor: o.doctor.full,
    redact: (app, text) => o.secrets.forApp(app).redact(text),
  });
  o.instances.onStateChange((_v, _from, to) => {
    if (to === 'crashloop') alerter.poke();
  });
  return alerter;
}
