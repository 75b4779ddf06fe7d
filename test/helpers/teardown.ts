/**
 * Teardown with a bound per step (issue 15, item 5): node:test gives hooks no timeout, so a close()
 * that waits without end (a pool behind a query that never returns, a lock) kept a file running for
 * minutes (control-pg-outage: 398 s) and said nothing. Every step runs, in order, even after one
 * failed or overran (the later ones still free ports, processes and schemas); the first failure is
 * thrown at the end, naming its step. The bound is generous: it is there to name a hang, not to time.
 */
export type Step = readonly [what: string, run: () => unknown];

export async function teardown(steps: readonly Step[], msPerStep = 60_000): Promise<void> {
  const errors: Error[] = [];
  for (const [what, run] of steps) {
    let timer: NodeJS.Timeout | undefined;
    const overran = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`teardown: ${what} did not finish within ${msPerStep} ms`)), msPerStep);
    });
    try {
      await Promise.race([Promise.resolve().then(run), overran]);
    } catch (err) {
      errors.push(err instanceof Error && err.message.startsWith('teardown: ') ? err : new Error(`teardown: ${what} failed: ${String(err)}`, { cause: err }));
    } finally {
      clearTimeout(timer);
    }
  }
  if (errors.length > 0) throw errors[0]!;
}
