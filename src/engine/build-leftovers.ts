import type { ContainerEngine } from '../runtime/container-engine.js';
import { EngineError } from '../runtime/container-engine.js';

/** A step's image in the classic builder's output: ` ---> 581bba748ce7`. */
const STEP_IMAGE = /^ ---> ([0-9a-f]{12,64})\s*$/;

/**
 * The images a failed build leaves. The classic builder keeps every step that succeeded as an
 * untagged image (its cache); when a later step fails, the last of them is a dangling leaf no
 * tag and no release will ever name, and no label says whose it is (the labels are the build's
 * last steps). Its id is read from the build's output as it goes, and removed when the build
 * fails: the engine removes the leaf with its untagged parents that nothing else uses, never a
 * step another image builds on (those have children: 409) nor one a container runs.
 */
export class BuildLeftovers {
  #last: string | undefined;

  /** One line of the build's output. */
  see(line: string): void {
    const id = STEP_IMAGE.exec(line)?.[1];
    if (id !== undefined) this.#last = id;
  }

  /** Removes the last step's image when it is untagged; its id when it was removed. */
  async remove(engine: ContainerEngine): Promise<string | undefined> {
    const id = this.#last;
    this.#last = undefined;
    if (id === undefined) return undefined;
    try {
      const info = await engine.call<{ Id: string; RepoTags: string[] | null }>('GET', `/images/${id}/json`);
      if ((info.RepoTags ?? []).some((t) => t !== '<none>:<none>')) return undefined;
      await engine.call('DELETE', `/images/${encodeURIComponent(info.Id)}`);
      return id;
    } catch (err) {
      if (err instanceof EngineError) return undefined; // gone, or still used (a child, a container): it stays
      throw err;
    }
  }
}
