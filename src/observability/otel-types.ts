/**
 * The slice of OpenTelemetry's metrics API that `instrumentManager` uses, declared here by
 * shape. A `Meter` or `MeterProvider` from `@opentelemetry/api` (1.4 or later) fits these
 * types as it is; declaring them here keeps this package's declarations free of imports from
 * `@opentelemetry/api`, an optional peer dependency, so projects without it still compile.
 */

/** Attributes of a measurement (OpenTelemetry's `Attributes`). */
export type MetricAttributesLike = Record<string, string | number | boolean>;

/** Options of an instrument (OpenTelemetry's `MetricOptions`, the fields we set). */
export interface InstrumentOptionsLike {
  description?: string;
  unit?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}

/** An asynchronous instrument (OpenTelemetry's `Observable`). */
export interface ObservableLike {
  addCallback(callback: (result: { observe(value: number, attributes?: MetricAttributesLike): void }) => void): void;
  removeCallback(callback: (result: { observe(value: number, attributes?: MetricAttributesLike): void }) => void): void;
}

/** What a batch callback observes into (OpenTelemetry's `BatchObservableResult`). */
export interface BatchObservableResultLike {
  observe(observable: ObservableLike, value: number, attributes?: MetricAttributesLike): void;
}

export type BatchObservableCallbackLike = (result: BatchObservableResultLike) => void;

/** OpenTelemetry's `Histogram`. */
export interface HistogramLike {
  record(value: number, attributes?: MetricAttributesLike): void;
}

/** OpenTelemetry's `Counter`. */
export interface CounterLike {
  add(value: number, attributes?: MetricAttributesLike): void;
}

/** OpenTelemetry's `Meter`: the instruments we create. */
export interface MeterLike {
  createHistogram(name: string, options?: InstrumentOptionsLike): HistogramLike;
  createCounter(name: string, options?: InstrumentOptionsLike): CounterLike;
  createObservableUpDownCounter(name: string, options?: InstrumentOptionsLike): ObservableLike;
  addBatchObservableCallback(callback: BatchObservableCallbackLike, observables: ObservableLike[]): void;
  removeBatchObservableCallback(callback: BatchObservableCallbackLike, observables: ObservableLike[]): void;
}

/** OpenTelemetry's `MeterProvider`. */
export interface MeterProviderLike {
  getMeter(name: string, version?: string): MeterLike;
}
