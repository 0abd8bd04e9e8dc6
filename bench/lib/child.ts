/**
 * Measurements in a fresh Node process (forked through tsx), so that neither another
 * contender's garbage nor the JIT state of an earlier measurement is in the one being taken.
 * The child sends one ChildMessage over IPC and disconnects. The subtlety: a child that does
 * not finish in time is killed, and its figure reads n/a rather than ending the suite.
 */
import { errorMessage, forkTs } from './util.js';

export type ChildMessage<T> = { ok: true; figures: T } | { ok: false; error: string };

/** Forks `file` with `args` and resolves the figures it sends; rejects on error, exit or timeout. */
export function runChild<T>(file: string, args: readonly string[], nodeFlags: readonly string[], limitMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = forkTs(file, args, nodeFlags);
    let result: ChildMessage<T> | null = null;
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill();
    }, limitMs);
    child.on('message', (msg) => {
      result = msg as ChildMessage<T>;
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const r: ChildMessage<T> | null = result;
      if (killed) reject(new Error(`no result within ${limitMs / 1000} s (child killed)`));
      else if (r === null) reject(new Error(`child exited (code ${code}, signal ${signal}) without a result`));
      else if (!r.ok) reject(new Error(r.error));
      else resolve(r.figures);
    });
  });
}

/** Child side: runs `main`, sends its figures (or its error) to the parent, and disconnects. */
export async function childMain<T>(main: () => Promise<T>): Promise<void> {
  const send = (message: ChildMessage<T>): Promise<void> =>
    new Promise((resolve) => {
      if (process.send === undefined) {
        process.stdout.write(`${JSON.stringify(message)}\n`);
        resolve();
      } else {
        process.send(message, () => resolve());
      }
    });
  try {
    await send({ ok: true, figures: await main() });
  } catch (err) {
    await send({ ok: false, error: errorMessage(err) });
  }
  process.disconnect?.();
}
