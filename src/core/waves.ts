/** A node in a dependency graph: a service name and the names it depends on. */
export interface DependencyNode {
  readonly name: string;
  readonly dependsOn: readonly string[];
}

export type WavesResult = { ok: true; waves: string[][] } | { ok: false; cycle: string[] };

/**
 * Orders nodes into waves: every node's dependencies are in earlier waves, and the nodes
 * of one wave can start together. Names inside a wave keep manifest order. A cycle is
 * returned as the path that closes it (`a -> b -> a`). Unknown dependencies are ignored
 * here; the manifest validator reports them.
 */
export function dependencyWaves(nodes: readonly DependencyNode[]): WavesResult {
  const known = new Set(nodes.map((n) => n.name));
  const remaining = new Map(nodes.map((n) => [n.name, n.dependsOn.filter((d) => known.has(d))]));
  const done = new Set<string>();
  const waves: string[][] = [];
  while (remaining.size > 0) {
    const wave = [...remaining].filter(([, deps]) => deps.every((d) => done.has(d))).map(([name]) => name);
    if (wave.length === 0) return { ok: false, cycle: findCycle(remaining) };
    for (const name of wave) {
      remaining.delete(name);
      done.add(name);
    }
    waves.push(wave);
  }
  return { ok: true, waves };
}

function findCycle(graph: Map<string, string[]>): string[] {
  const start = graph.keys().next().value as string;
  const seen: string[] = [];
  let current = start;
  while (!seen.includes(current)) {
    seen.push(current);
    current = (graph.get(current) ?? []).find((d) => graph.has(d)) as string;
  }
  return [...seen.slice(seen.indexOf(current)), current];
}
