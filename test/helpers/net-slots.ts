import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Address slots for the private container engines tests start. node:test runs two files at once in
 * one network namespace, so two engines must never make bridges in the same subnet: each claims a
 * slot (a file named by its number, holding the claiming test's pid) and takes its subnets from the
 * slot's /20 of 10.213.0.0/16. A slot whose pid is gone (a test killed) is taken over.
 */
const DIR = path.join(tmpdir(), 'berth-test-net-slots');
const SLOTS = 16;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims a free slot for this process; throws when all 16 are held by live tests. */
export function claimNetSlot(): number {
  mkdirSync(DIR, { recursive: true });
  for (let slot = 0; slot < SLOTS; slot++) {
    const file = path.join(DIR, String(slot));
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return slot;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(file, 'utf8'));
    if (owner === process.pid || alive(owner)) continue;
    unlinkSync(file);
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return slot;
    } catch {
      continue; // another test took it over first
    }
  }
  throw new Error(`no free test network slot in ${DIR}: ${SLOTS} live tests hold one each`);
}

/** Gives a slot back (only when this process holds it). */
export function releaseNetSlot(slot: number): void {
  const file = path.join(DIR, String(slot));
  try {
    if (Number(readFileSync(file, 'utf8')) === process.pid) unlinkSync(file);
  } catch {
    // already gone
  }
}

/** The slot's address pool: a /20 of 10.213.0.0/16. */
export const slotPool = (slot: number): string => `10.213.${slot * 16}.0/20`;

/**
 * Deletes the bridges a stopped engine left with addresses in the slot's pool (an engine keeps its
 * networks' bridges when it stops), so the slot's next engine starts from a clean namespace.
 */
export function removeSlotBridges(slot: number): void {
  const out = spawnSync('ip', ['-j', 'addr', 'show', 'type', 'bridge'], { encoding: 'utf8' });
  if (out.status !== 0) return;
  const links = JSON.parse(out.stdout) as { ifname: string; addr_info: { family: string; local: string }[] }[];
  for (const link of links) {
    const third = link.addr_info.find((a) => a.family === 'inet' && a.local.startsWith('10.213.'))?.local.split('.')[2];
    if (third !== undefined && Math.floor(Number(third) / 16) === slot)
      spawnSync('ip', ['link', 'delete', link.ifname], { stdio: 'ignore' });
  }
}
