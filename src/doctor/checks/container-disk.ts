import { humanBytes } from '../../core/image-results.js';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

/**
 * The container engine's disk use past the host setting `container_disk_warn` (the first
 * complaint about every container platform: the disk fills with old images). Only looked at
 * when a current release runs containers (see gatherFacts).
 */
export function containerDiskChecks(f: Facts): Finding[] {
  const d = f.engineDisk;
  if (!d || d.use.total <= d.warnAt) return [];
  const parts = [
    `images ${humanBytes(d.use.images)}`,
    `containers ${humanBytes(d.use.containers)}`,
    `volumes ${humanBytes(d.use.volumes)}`,
    `build cache ${humanBytes(d.use.buildCache)}`,
  ];
  return [
    {
      severity: 'warning',
      code: 'container_disk',
      message: `the container engine uses ${humanBytes(d.use.total)} of disk (${parts.join(', ')}), more than container_disk_warn (${humanBytes(d.warnAt)})`,
      fix: '`berth images prune` removes the images no kept release uses and stopped containers (`berth images` lists what each release keeps); a smaller releases_keep keeps fewer; or raise container_disk_warn in config.yaml',
    },
  ];
}
