import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

/**
 * Kills `child` (SIGKILL) when this test process exits, if it is still running then: a test
 * that failed or timed out before its own clean-up must not leave a worker, an api or a
 * redis-server running on the machine (they would go on taking jobs and CPU from later tests).
 * Returns the child.
 */
export function killOnExit<T extends ChildProcess>(child: T): T {
  if (!hooked) {
    hooked = true;
    const killAll = () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    };
    process.once('exit', killAll);
    // Vitest ends its fork processes with a signal, and a signal's default action runs no 'exit'
    // handler: without these, a failed test's workers outlived the run (seen: four, for half an hour).
    for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
      process.once(signal, () => {
        killAll();
        process.exit(code);
      });
    }
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}
