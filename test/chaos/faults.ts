/**
 * The faults the chaos suite injects, each with the client traffic it
 * affects (for the recovery time) and how it is lifted. A kill is lifted by
 * starting the process again; the others by undoing what they did.
 */
import { appendFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Cluster } from './cluster.js';
import { blackhole, type Lab } from './netns.js';
import type { Outcome } from './traffic.js';
import { killHard, stopGracefully } from '../helpers/procs.js';

export interface FaultContext {
  readonly cluster: Cluster;
  readonly lab: Lab;
  /** Cut or restore the PostgreSQL forwarder (owned by the launcher in the root namespace). */
  pg(on: boolean): void;
  readonly dialect: 'sqlite' | 'postgres';
}

export interface Fault {
  readonly name: string;
  /** Which requests the fault can break; 'control' = measure recovery by the control probe (a new customer served). */
  readonly affects: ((o: Outcome) => boolean) | 'control';
  readonly holdMs: number;
  readonly only?: 'postgres';
  /** Also make a change (a new customer) while the fault holds, and say when it is in force on both ingresses. */
  readonly probeDuring?: boolean;
  inject(c: FaultContext): Promise<void>;
  lift(c: FaultContext): Promise<void>;
}

/** The state directory of ingress 2 is a tmpfs in its own mount namespace; reach it through /proc/PID/root. */
const i2State = (c: FaultContext): string => join(`/proc/${c.cluster.ingresses[1]!.pid}/root`, c.cluster.stateDir(1));

function fill(dir: string): void {
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (let i = 0; i < 10_000; i++) appendFileSync(join(dir, 'chaos-fill'), chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
}

const KILL_DOWN_MS = 3000;
const OUTAGE_MS = 10_000;

export const FAULTS: readonly Fault[] = [
  { name: 'baseline (no fault)', affects: () => true, holdMs: 0, inject: async () => undefined, lift: async () => undefined },
  {
    name: 'kill -9 ingress 1',
    affects: (o) => o.ingress === 'i1',
    holdMs: KILL_DOWN_MS,
    inject: (c) => killHard(c.cluster.ingresses[0]!),
    lift: async (c) => void (await c.cluster.startIngress(0)),
  },
  {
    name: 'kill -9 exit ex-1',
    affects: (o) => o.exit === 'e1',
    holdMs: KILL_DOWN_MS,
    inject: (c) => killHard(c.cluster.exits[0]!),
    lift: async (c) => void (await c.cluster.startExit(0)),
  },
  {
    name: 'kill -9 reverse exit',
    affects: (o) => o.exit === 'rv',
    holdMs: KILL_DOWN_MS,
    inject: (c) => killHard(c.cluster.reverse!),
    lift: async (c) => void (await c.cluster.startReverse()),
  },
  {
    name: 'kill -9 control plane',
    affects: 'control',
    holdMs: KILL_DOWN_MS,
    inject: (c) => killHard(c.cluster.cp!),
    lift: async (c) => void (await c.cluster.startControl()),
  },
  {
    name: `control plane stopped ${OUTAGE_MS / 1000} s`,
    affects: 'control',
    holdMs: OUTAGE_MS,
    inject: async (c) => void (await stopGracefully(c.cluster.cp!)),
    lift: async (c) => void (await c.cluster.startControl()),
  },
  {
    name: `PostgreSQL cut ${OUTAGE_MS / 1000} s`,
    affects: 'control',
    holdMs: OUTAGE_MS,
    only: 'postgres',
    inject: async (c) => c.pg(false),
    lift: async (c) => c.pg(true),
  },
  {
    name: `exit ex-2 blackholed ${OUTAGE_MS / 1000} s`,
    affects: (o) => o.exit === 'e2',
    holdMs: OUTAGE_MS,
    inject: async (c) => blackhole(c.lab, 'e2', [c.lab.nodes.i1!.ip, c.lab.nodes.i2!.ip, c.lab.hubIp], true),
    lift: async (c) => blackhole(c.lab, 'e2', [c.lab.nodes.i1!.ip, c.lab.nodes.i2!.ip, c.lab.hubIp], false),
  },
  {
    name: `ingress 2 state dir full ${OUTAGE_MS / 1000} s`,
    affects: (o) => o.ingress === 'i2',
    holdMs: OUTAGE_MS,
    probeDuring: true,
    inject: async (c) => fill(i2State(c)),
    lift: async (c) => rmSync(join(i2State(c), 'chaos-fill'), { force: true }),
  },
  {
    name: `ingress 2 state dir read-only ${OUTAGE_MS / 1000} s`,
    affects: (o) => o.ingress === 'i2',
    holdMs: OUTAGE_MS,
    probeDuring: true,
    inject: async (c) => remount(c, 'ro'),
    lift: async (c) => remount(c, 'rw'),
  },
];

function remount(c: FaultContext, mode: 'ro' | 'rw'): void {
  execFileSync('nsenter', ['-t', String(c.cluster.ingresses[1]!.pid), '-m', 'mount', '-o', `remount,${mode}`, c.cluster.stateDir(1)], { stdio: 'ignore' });
}

/** How ingress 2 is started: its state directory on a 4 MB tmpfs in a private mount namespace. */
export function tmpfsStateWrap(stateDir: string): (argv: string[]) => string[] {
  return (argv) => ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=4m,mode=0700 tmpfs "$0" && exec "$@"', stateDir, ...argv];
}
