import type { Command } from 'commander';
import { ApiError } from '../api/client.js';
import { BerthError } from '../core/errors.js';

/** `berth init [dir] [--print]`: a berth.yaml from the app's own files. Local: no berthd is needed. */
export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description(
      "look at an app's files and write its berth.yaml (Node, Python, static, Procfile, Dockerfile, compose); says what it guessed and why",
    )
    .argument('[dir]', "the app's source directory", '.')
    .option('--print', 'print the berth.yaml instead of writing it')
    .action(async (dir: string, opts: { print?: boolean }) => {
      const { runInit } = await import('../init/init-command.js');
      try {
        runInit(dir, opts);
      } catch (err) {
        if (err instanceof BerthError) throw new ApiError(0, err.code, err.message, err.hint);
        throw err;
      }
    });
}
