/**
 * One contender's micro or tcp measurement in a fresh `node --expose-gc` process (forked by
 * micro.ts and tcp.ts), so that no other contender's code shapes the JIT state of this one.
 *
 *   argv: micro <contender> <warmupMs> <durationMs>          → { seq, conc } ops/s
 *         tcp <contender> <port> <warmupMs> <durationMs>     → { rps, created, leaked }
 *
 * Why: these scenarios drive every pool through the same loop functions. Run in one process,
 * those call sites saw six adapter classes (V8 keeps at most four shapes per site before it
 * goes megamorphic), and the contenders measured later paid for the earlier ones: cmk's
 * 100-caller micro figure read 0.55M ops/s beside the other five, 2.4M beside generic-pool
 * alone. A fresh process per contender and round gives each the same start.
 */
import { isContenderName, loadContender } from '../contenders/index.js';
import { childMain } from '../lib/child.js';
import { measureMicro } from './micro.js';
import { measurePool } from './tcp.js';

const [scenario, name, ...rest] = process.argv.slice(2);
const numbers = rest.map(Number);

await childMain(async () => {
  if (name === undefined || !isContenderName(name)) throw new Error(`unknown contender ${String(name)}`);
  const contender = await loadContender(name);
  if (scenario === 'micro') {
    const [warmupMs = 0, durationMs = 0] = numbers;
    return {
      seq: await measureMicro(contender, 1, warmupMs, durationMs),
      conc: await measureMicro(contender, 100, warmupMs, durationMs),
    };
  }
  if (scenario === 'tcp') {
    const [port = 0, warmupMs = 0, durationMs = 0] = numbers;
    return measurePool(contender, port, warmupMs, durationMs);
  }
  throw new Error(`unknown scenario ${String(scenario)}`);
});
