import { z } from 'zod';
import type { Problem } from './manifest-errors.js';
import { isContainer } from './manifest-normalize.js';
import type { ServiceInput } from './manifest-schema.js';

/** What a Swarm service of a container service takes besides what one host uses (see engine/swarm-options.ts). */
export interface SwarmSettings {
  readonly placement?: {
    readonly spread?: string;
    readonly constraints?: readonly string[];
    readonly maxPerNode?: number;
  };
  readonly update?: { readonly parallelism?: number; readonly order?: 'start-first' | 'stop-first' };
}

const NODE_ATTRIBUTE = /^node\.(id|hostname|role|platform\.(os|arch)|labels\.[A-Za-z0-9_.-]+)$/;

/** The keys of a service for a swarm (host setting scheduler: swarm), spread into the service schema. */
export const swarmServiceKeys = {
  replicas: z
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe(
      'How many tasks of a container service run on the swarm (host setting scheduler: swarm); on one host, its instances. Another name for `instances`. Default 1.',
    ),
  placement: z
    .strictObject({
      spread: z
        .string()
        .regex(/^node$|^node\.labels\.[A-Za-z0-9_.-]+$/, 'expected "node" or a node label like "node.labels.zone"')
        .optional(),
      constraints: z
        .array(
          z
            .string()
            .regex(
              /^node\.[A-Za-z0-9_.-]+ ?(==|!=) ?[A-Za-z0-9_.:-]+$/,
              'expected a constraint like "node.labels.zone==a" or "node.role!=manager"',
            )
            .refine(
              (c) => NODE_ATTRIBUTE.test(c.split(/ ?[!=]=/)[0] as string),
              'unknown node attribute: use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>',
            ),
        )
        .optional(),
      max_per_node: z.number().int().min(1).max(64).optional(),
    })
    .optional()
    .describe(
      'On a swarm: where its tasks run. `spread: node` (the default) puts them on the nodes that run fewest; a node label spreads them over its values; `constraints` as Swarm writes them; `max_per_node`. Default none.',
    ),
  update: z
    .strictObject({
      parallelism: z.number().int().min(1).max(64).optional(),
      order: z.enum(['start-first', 'stop-first']).optional(),
    })
    .optional()
    .describe(
      'On a swarm: how a worker (`port: none`) is updated in place: tasks at once (default 1) and start-first (default) or stop-first. A routed service gets a new Swarm service per release instead (blue-green).',
    ),
};

/** The service's Swarm settings, when it has any. */
export function swarmSettingsOf(s: ServiceInput): { swarm?: SwarmSettings } {
  if (s.placement === undefined && s.update === undefined) return {};
  const p = s.placement;
  return {
    swarm: {
      ...(p
        ? {
            placement: {
              ...(p.spread !== undefined ? { spread: p.spread } : {}),
              ...(p.constraints !== undefined ? { constraints: p.constraints } : {}),
              ...(p.max_per_node !== undefined ? { maxPerNode: p.max_per_node } : {}),
            },
          }
        : {}),
      ...(s.update ? { update: s.update } : {}),
    },
  };
}

/** Swarm keys where they cannot apply: on a service that is no container, or `replicas` beside `instances`. */
export function swarmProblems(name: string, svc: ServiceInput): Problem[] {
  const at = ['services', name];
  const problems: Problem[] = [];
  if (svc.replicas !== undefined && svc.instances !== undefined)
    problems.push({
      path: [...at, 'replicas'],
      atKey: true,
      message: '`replicas` and `instances` are two names for one count',
      hint: 'keep one of them',
    });
  const stray = (['placement', 'update'] as const).filter((k) => svc[k] !== undefined);
  if (stray.length > 0 && !isContainer(svc))
    problems.push({
      path: [...at, stray[0] as string],
      atKey: true,
      message: `\`${stray.join('`, `')}\` only applies to a container on a swarm (a service with \`image:\`)`,
      hint: 'add `image:`, or remove it',
    });
  return problems;
}
