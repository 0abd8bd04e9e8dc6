/**
 * `connection-manager-kit/dashboard`: a local web page that shows a manager's actors live, as
 * statecharts, with no network beyond the loopback connection to it (docs/dashboard.md).
 *
 * ```ts
 * import { startDashboard } from 'connection-manager-kit/dashboard';
 * const dashboard = await startDashboard(manager);   // 127.0.0.1, a port chosen by the OS
 * console.log(dashboard.url);                        // open it in a browser
 * await dashboard.close();
 * ```
 *
 * The one subtlety: the URL carries a random token that the server requires on every request;
 * whoever has the URL can watch (not act: the dashboard is read-only), so treat it like a
 * password when you expose the dashboard beyond loopback (`host`).
 *
 * @module connection-manager-kit/dashboard
 */
import { ConnectionManager } from '../manager.js';
import { ConfigurationError } from '../errors.js';
import { listenAddress, reachableAt } from '../local-server.js';
import { describe } from '../time.js';
import { resolveCharts } from './charts.js';
import { DashboardServer } from './server.js';
import { ManagerWatcher } from './watcher.js';

export interface DashboardOptions {
  /**
   * The interface to listen on. Default `'127.0.0.1'`: only this machine can connect. Give
   * `'0.0.0.0'` (or an address) to expose it on purpose: plain HTTP, protected by the token in
   * the URL only; an SSH tunnel to the default is safer.
   */
  host?: string;
  /** The port. Default 0: one chosen by the OS (see `url`). */
  port?: number;
}

export interface Dashboard {
  /** The page's address, token included: `http://127.0.0.1:<port>/<token>/`. */
  readonly url: string;
  /** Closes every page's connection and the server, and stops watching the manager. Idempotent. */
  close(): Promise<void>;
}

const OPTION_FIELDS = new Set(['host', 'port']);

function checkOptions(options: unknown): { host: string; port: number } {
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError('options', `must be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!OPTION_FIELDS.has(name)) throw new ConfigurationError(`options.${name}`, 'is not a dashboard option');
  }
  return listenAddress(options as DashboardOptions);
}


/**
 * Serves a live view of `manager` (its pools, connections and links as statecharts, their
 * timers and counts, and the event log) at the returned `url`. Watching costs the manager
 * nothing until a page is open.
 */
export async function startDashboard(manager: ConnectionManager, options: DashboardOptions = {}): Promise<Dashboard> {
  if (!(manager instanceof ConnectionManager)) {
    throw new ConfigurationError('manager', `must be a ConnectionManager, got ${describe(manager)}`);
  }
  const { host, port } = checkOptions(options);
  const charts = await resolveCharts();
  const watcher = new ManagerWatcher(manager, { charts: charts.status });
  const server = new DashboardServer({ host, port, watcher, charts });
  const address = await server.listen();
  const url = `http://${reachableAt(host, address.port)}/${server.token}/`;
  return { url, close: () => server.close() };
}
