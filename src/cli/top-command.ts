import type { Command } from 'commander';
import { formatSize } from '../config/size.js';
import { table } from './render.js';
import { topRows, type Stats, type TopRow } from './top-rates.js';

type Call = <T>(method: 'GET', route: string) => Promise<T>;

const ESC = '\x1b[';

function cells(r: TopRow): string[] {
  return [
    r.env === 'production' || r.env === 'default' ? r.app : `${r.app}@${r.env}`,
    r.service,
    `${r.running}/${r.instances}`,
    `${r.cpuPercent.toFixed(1)}%`,
    formatSize(r.rssBytes),
    String(r.restarts),
    r.reqPerSec.toFixed(1),
    r.p95Ms === null ? '-' : `${r.p95Ms.toFixed(r.p95Ms < 10 ? 1 : 0)} ms`,
  ];
}

/** The screen for one frame: a header line, the table, clipped to the terminal's size. */
export function frame(rows: readonly TopRow[], size: { columns: number; rows: number }, at: number): string[] {
  const head = `berth top  ${new Date(at).toISOString().slice(11, 19)}Z  ${rows.length} service(s)  (q to quit)`;
  const body = table(['APP', 'SERVICE', 'UP', 'CPU', 'MEM', 'RESTARTS', 'REQ/S', 'P95'], rows.map(cells)).split('\n');
  return [head, '', ...body].slice(0, Math.max(1, size.rows)).map((l) => l.slice(0, Math.max(1, size.columns)));
}

/** Redraws in place on the alternate screen each interval and on resize, until q or Ctrl-C. */
async function live(sample: () => Promise<Stats>, intervalMs: number): Promise<void> {
  const out = process.stdout;
  const size = () => ({ columns: out.columns || 80, rows: out.rows || 24 });
  let before = await sample();
  let rows: TopRow[] = topRows(before, before);
  let at = before.at;
  const draw = () =>
    out.write(
      `${ESC}H${frame(rows, size(), at)
        .map((l) => `${l}${ESC}K`)
        .join('\r\n')}\r\n${ESC}J`,
    );
  out.write(`${ESC}?1049h${ESC}?25l`);
  const restore = () => out.write(`${ESC}?25h${ESC}?1049l`);
  draw();
  await new Promise<void>((resolve, reject) => {
    const tick = setInterval(() => {
      sample()
        .then((now) => {
          rows = topRows(before, now);
          before = now;
          at = now.at;
          draw();
        })
        .catch((err: unknown) => stop(err));
    }, intervalMs);
    const onResize = () => draw();
    const onKey = (b: Buffer) => {
      if (b.includes(0x71) || b.includes(0x51) || b.includes(0x03)) stop(); // q, Q, Ctrl-C
    };
    const stop = (err?: unknown) => {
      clearInterval(tick);
      out.off('resize', onResize);
      process.stdin.off('data', onKey);
      if (process.stdin.isTTY) process.stdin.setRawMode(false);
      process.stdin.pause();
      restore();
      if (err === undefined) resolve();
      else reject(err instanceof Error ? err : new Error('berth top: sampling failed'));
    };
    out.on('resize', onResize);
    if (process.stdin.isTTY) process.stdin.setRawMode(true);
    process.stdin.on('data', onKey).resume();
  });
}

export function registerTopCommand(program: Command, io: { call: Call }): void {
  program
    .command('top')
    .description('live CPU, memory, restarts, requests/s and p95 latency per service (q quits)')
    .argument('[app]', 'only this app')
    .option('--json', 'sample twice, --interval apart, print the rows once and exit')
    .option('--interval <seconds>', 'time between samples', '2')
    .action(async (app: string | undefined, opts: { json?: boolean; interval: string }) => {
      const seconds = Number(opts.interval);
      if (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 3600)
        throw new Error(`--interval takes seconds from 0.2 to 3600, got "${opts.interval}"`);
      const sample = async () => {
        const s = await io.call<Stats>('GET', '/v1/stats');
        if (app === undefined) return s;
        return {
          ...s,
          instances: s.instances.filter((i) => i.app === app),
          routes: s.routes.filter((r) => r.app === app),
        };
      };
      if (!opts.json) return live(sample, seconds * 1000);
      const before = await sample();
      await new Promise((r) => setTimeout(r, seconds * 1000));
      const after = await sample();
      process.stdout.write(
        JSON.stringify({ seconds: (after.at - before.at) / 1000, services: topRows(before, after) }, null, 2) + '\n',
      );
    });
}
