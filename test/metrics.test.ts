/**
 * OpenTelemetry metrics (src/observability/metrics.ts) against the real SDK: a MeterProvider
 * with a MetricReader the test collects from. Checks names, kinds, units and attributes of the
 * semantic conventions for connection pools, the values after a known sequence of acquires,
 * returns, a timeout and a resize, and that stop() leaves nothing recording.
 */
import { metrics, type Meter, type MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  MetricReader,
  type HistogramMetricData,
  type MetricData,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, test } from 'vitest';
import {
  instrumentManager,
  METER_NAME,
  POOL_METRICS,
  type MeterLike,
  type MeterProviderLike,
} from '../src/index.js';
import { manager } from './support/managers.js';

// A real Meter and MeterProvider of @opentelemetry/api fit the shapes we declare.
export const fitsMeter = (m: Meter): MeterLike => m;
export const fitsProvider = (p: ApiMeterProvider): MeterProviderLike => p;

/** A reader the test pulls from (no export timer). */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const providers: MeterProvider[] = [];
afterEach(async () => {
  metrics.disable();
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

function sdk(scopeName = METER_NAME) {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  providers.push(provider);
  return {
    provider,
    async collect(): Promise<Map<string, MetricData>> {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      const byName = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        expect(scope.scope.name).toBe(scopeName);
        for (const metric of scope.metrics) byName.set(metric.descriptor.name, metric);
      }
      return byName;
    },
  };
}

/** The value of a sum metric's point whose attributes include `attributes`. */
function sumValue(metric: MetricData | undefined, attributes: Record<string, string>): number | undefined {
  const points = (metric as SumMetricData | undefined)?.dataPoints ?? [];
  const match = points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
  return match?.value;
}

function histogramCount(metric: MetricData | undefined, pool: string): number {
  const points = (metric as HistogramMetricData | undefined)?.dataPoints ?? [];
  return points.filter((p) => p.attributes['db.client.connection.pool.name'] === pool).reduce((n, p) => n + p.value.count, 0);
}

const slowResource = () => new Promise<{ close(): void }>((resolve) => setTimeout(() => resolve({ close() {} }), 5));
const pool = (m: ReturnType<typeof manager>) => ({
  acquire: (config: object) => m.connectionCache.acquireConnection('db', config, slowResource),
  give: (c: object) => m.connectionCache.returnConnection('db', c),
});

describe('instrumentManager', () => {
  test('records the semantic-convention pool metrics, with their kinds, units and attributes', async () => {
    const { provider, collect } = sdk();
    const m = manager();
    const instrumentation = instrumentManager(m, { meterProvider: provider });
    expect(instrumentation.enabled).toBe(true);
    const p = pool(m);
    const config = { minConnections: 1, maxConnections: 2, acquireTimeout: 30 };
    const a = await p.acquire(config);
    const b = await p.acquire(config);
    expect(await p.acquire(config)).toBeNull(); // both lent: a timeout
    p.give(a!);

    const data = await collect();
    const pool_ = { 'db.client.connection.pool.name': 'db' };
    expect(sumValue(data.get(POOL_METRICS.count), { ...pool_, 'db.client.connection.state': 'idle' })).toBe(1);
    expect(sumValue(data.get(POOL_METRICS.count), { ...pool_, 'db.client.connection.state': 'used' })).toBe(1);
    expect(sumValue(data.get(POOL_METRICS.max), pool_)).toBe(2);
    expect(sumValue(data.get(POOL_METRICS.idleMax), pool_)).toBe(2);
    expect(sumValue(data.get(POOL_METRICS.idleMin), pool_)).toBe(1);
    expect(sumValue(data.get(POOL_METRICS.pendingRequests), pool_)).toBe(0);
    expect(sumValue(data.get(POOL_METRICS.timeouts), pool_)).toBe(1);
    expect(histogramCount(data.get(POOL_METRICS.createTime), 'db')).toBe(2);
    expect(histogramCount(data.get(POOL_METRICS.waitTime), 'db')).toBe(2);
    expect(histogramCount(data.get(POOL_METRICS.useTime), 'db')).toBe(1);

    // Kinds and units: counts are non-monotonic sums (UpDownCounters), timeouts a monotonic
    // sum (Counter), times histograms in seconds.
    for (const name of [POOL_METRICS.count, POOL_METRICS.max, POOL_METRICS.idleMax, POOL_METRICS.idleMin]) {
      const metric = data.get(name) as SumMetricData;
      expect([name, metric.dataPointType, metric.isMonotonic, metric.descriptor.unit]).toEqual([name, DataPointType.SUM, false, '{connection}']);
    }
    expect((data.get(POOL_METRICS.pendingRequests) as SumMetricData).descriptor.unit).toBe('{request}');
    const timeouts = data.get(POOL_METRICS.timeouts) as SumMetricData;
    expect([timeouts.isMonotonic, timeouts.descriptor.unit]).toEqual([true, '{timeout}']);
    for (const name of [POOL_METRICS.createTime, POOL_METRICS.waitTime, POOL_METRICS.useTime]) {
      const metric = data.get(name) as HistogramMetricData;
      expect([name, metric.dataPointType, metric.descriptor.unit]).toEqual([name, DataPointType.HISTOGRAM, 's']);
      // Seconds, not milliseconds: a 5 ms create is far below 1.
      for (const point of metric.dataPoints) expect(point.value.max ?? 0).toBeLessThan(5);
    }
    const create = data.get(POOL_METRICS.createTime) as HistogramMetricData;
    expect(create.dataPoints[0]!.value.min).toBeGreaterThan(0.002);

    instrumentation.stop();
    p.give(b!);
  });

  test('follows a resize and a waiter, and names pools with poolName', async () => {
    const { provider, collect } = sdk('mine');
    const m = manager();
    const instrumentation = instrumentManager(m, { meter: provider.getMeter('mine'), poolName: (key) => `svc/${key}` });
    const p = pool(m);
    const one = { maxConnections: 1, acquireTimeout: 10_000 };
    const first = await p.acquire(one);
    const waiting = p.acquire(one);
    const queued = await collect();
    const svc = { 'db.client.connection.pool.name': 'svc/db' };
    expect(sumValue(queued.get(POOL_METRICS.pendingRequests), svc)).toBe(1);
    p.give(first!);
    const second = await waiting;
    const resized = m.events.once('pool:resized');
    const third = await p.acquire({ maxConnections: 5, acquireTimeout: 10_000 });
    await resized;
    const data = await collect();
    expect(sumValue(data.get(POOL_METRICS.max), svc)).toBe(5);
    expect(sumValue(data.get(POOL_METRICS.pendingRequests), svc)).toBe(0);
    expect(histogramCount(data.get(POOL_METRICS.waitTime), 'svc/db')).toBe(3);
    instrumentation.stop();
    p.give(second!);
    p.give(third!);
  });

  test('stop() unsubscribes: no listener left, no observation, no recording', async () => {
    const { provider, collect } = sdk();
    const m = manager();
    const before = [...m.events.all.values()].reduce((n, handlers) => n + handlers.length, 0);
    const instrumentation = instrumentManager(m, { meterProvider: provider });
    const p = pool(m);
    const c = await p.acquire({});
    p.give(c!);
    const recorded = await collect();
    expect(histogramCount(recorded.get(POOL_METRICS.useTime), 'db')).toBe(1);

    instrumentation.stop();
    instrumentation.stop(); // idempotent
    expect([...m.events.all.values()].reduce((n, handlers) => n + handlers.length, 0)).toBe(before);
    const held = await p.acquire({});
    const after = await collect();
    p.give(held!);
    expect(histogramCount(after.get(POOL_METRICS.waitTime), 'db')).toBe(1);
    // Not observed any more: the SDK may repeat the last value, but never sees the one held now.
    expect(sumValue(after.get(POOL_METRICS.count), { 'db.client.connection.state': 'used' }) ?? 0).toBe(0);
  });

  test('without a meter it uses the global MeterProvider of @opentelemetry/api', async () => {
    const { provider, collect } = sdk();
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    const m = manager();
    const instrumentation = instrumentManager(m);
    expect(instrumentation.enabled).toBe(true);
    const c = await pool(m).acquire({ maxConnections: 3 });
    const data = await collect();
    expect(sumValue(data.get(POOL_METRICS.max), { 'db.client.connection.pool.name': 'db' })).toBe(3);
    instrumentation.stop();
    pool(m).give(c!);
  });

  test('bad options are a ConfigurationError naming the field', () => {
    const m = manager();
    expect(() => instrumentManager(m, { meter: {} as MeterLike })).toThrow(/options\.meter/);
    expect(() => instrumentManager(m, { meterProvider: 7 as unknown as MeterProviderLike })).toThrow(/options\.meterProvider/);
    expect(() => instrumentManager(m, { poolName: 'x' as unknown as (k: string) => string })).toThrow(/options\.poolName/);
  });
});
