/** CPU time of processes from /proc (Linux), for the benches' CPU per setup. */
import { readFileSync } from 'node:fs';

/** CPU time (user + system) of `pids` so far, µs; a process already gone counts 0. */
export function cpuUs(pids: readonly number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th, in USER_HZ (100) ticks.
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(f[11]) + Number(f[12])) * 1e4;
    } catch {
      // gone
    }
  }
  return total;
}

/** Minor page faults of `pids` so far (fresh memory touched: on a VM each costs the hypervisor too); a process already gone counts 0. */
export function minorFaults(pids: readonly number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      // minflt is the 8th field after the command name.
      total += Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[7]);
    } catch {
      // gone
    }
  }
  return total;
}
