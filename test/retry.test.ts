import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../src/errors.js';
import {
  checkMaxAttempts,
  checkRetryStrategy,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_RECONNECTION_ATTEMPTS,
  DEFAULT_MAX_RETRY_DELAY,
  MAX_RETRY_DELAY,
  NO_RETRY,
  retryDelay,
  RetryStrategy,
  RetryStrategyError,
  type RetryPolicy,
} from '../src/retry.js';
import { ConnectAttemptError, ConnectTimeoutError, isPermanentError } from '../src/transport/errors.js';

const ALMOST_ONE = 1 - Number.EPSILON;

/** Delays after attempts 1..maxAttempts (the last one is always null). */
function schedule(strategy: RetryStrategy, maxAttempts = DEFAULT_MAX_RECONNECTION_ATTEMPTS): Array<number | null> {
  const out: Array<number | null> = [];
  for (let attempt = 1; attempt <= maxAttempts; attempt++) out.push(strategy.nextDelay(attempt, maxAttempts));
  return out;
}

function configError(fn: () => unknown): ConfigurationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigurationError);
    return err as ConfigurationError;
  }
  throw new Error('expected a ConfigurationError');
}

describe('defaults', () => {
  it('match the seed', () => {
    expect(DEFAULT_MAX_RECONNECTION_ATTEMPTS).toBe(6);
    expect(DEFAULT_CONNECT_TIMEOUT).toBe(10_000);
    expect(DEFAULT_MAX_RETRY_DELAY).toBe(30_000);
  });
});

describe('attempt counting', () => {
  it('maxAttempts counts the first attempt: 6 attempts means 5 delays', () => {
    const delays = schedule(RetryStrategy.fixed(100), 6);
    expect(delays).toEqual([100, 100, 100, 100, 100, null]);
  });

  it('maxAttempts 1 never retries, for every kind', () => {
    const strategies = [
      RetryStrategy.fixed(1),
      RetryStrategy.exponential({ initialDelay: 1, jitter: false }),
      RetryStrategy.custom(() => 5),
    ];
    for (const s of strategies) {
      expect(s.nextDelay(1, 1)).toBeNull();
      expect(s.decide(1, 1)).toEqual({ retry: false, reason: 'exhausted' });
    }
  });

  it('stops for any attempt at or past maxAttempts', () => {
    const s = RetryStrategy.fixed(10);
    expect(s.nextDelay(5, 6)).toBe(10);
    expect(s.nextDelay(6, 6)).toBeNull();
    expect(s.nextDelay(7, 6)).toBeNull();
  });

  it('the custom function is not consulted once attempts are exhausted', () => {
    const calls: number[] = [];
    const s = RetryStrategy.custom((attempt) => {
      calls.push(attempt);
      return 1;
    });
    schedule(s, 3);
    expect(calls).toEqual([1, 2]);
  });

  it('Infinity means no limit', () => {
    expect(RetryStrategy.fixed(5).nextDelay(1_000_000, Infinity)).toBe(5);
  });

  it('rejects invalid counts with a RangeError (a bug in the caller)', () => {
    const s = RetryStrategy.fixed(1);
    expect(() => s.nextDelay(0, 6)).toThrow(RangeError);
    expect(() => s.nextDelay(1.5, 6)).toThrow(RangeError);
    expect(() => s.nextDelay(Number.NaN, 6)).toThrow(RangeError);
    expect(() => s.nextDelay(1, 0)).toThrow(RangeError);
    expect(() => s.nextDelay(1, 2.5)).toThrow(RangeError);
  });

  it('checkMaxAttempts validates user input with the field name', () => {
    expect(checkMaxAttempts('maxReconnectionAttempts', 6)).toBe(6);
    expect(checkMaxAttempts('maxReconnectionAttempts', Infinity)).toBe(Infinity);
    for (const bad of [0, -1, 1.5, Number.NaN, '6', null]) {
      expect(configError(() => checkMaxAttempts('maxReconnectionAttempts', bad)).field).toBe('maxReconnectionAttempts');
    }
  });
});

describe('fixed', () => {
  it('always answers the same delay', () => {
    const s = RetryStrategy.fixed(250);
    expect(s.kind).toBe('fixed');
    expect(schedule(s, 4)).toEqual([250, 250, 250, null]);
  });

  it('0 retries immediately (it is not "stop")', () => {
    expect(RetryStrategy.fixed(0).nextDelay(1, 6)).toBe(0);
  });

  it('validates the delay', () => {
    for (const bad of [-1, Number.NaN, Infinity, '5', undefined, MAX_RETRY_DELAY + 1]) {
      expect(configError(() => RetryStrategy.fixed(bad as number)).field).toBe('retryStrategy.delay');
    }
  });
});

describe('exponential', () => {
  it('without jitter: initialDelay * multiplier^(attempt-1), capped at maxDelay', () => {
    const s = RetryStrategy.exponential({ initialDelay: 100, maxDelay: 1000, multiplier: 3, jitter: false });
    expect(s.kind).toBe('exponential');
    expect(schedule(s, 6)).toEqual([100, 300, 900, 1000, 1000, null]);
  });

  it('defaults: multiplier 2, maxDelay 30 s', () => {
    const s = RetryStrategy.exponential({ initialDelay: 1000, jitter: false });
    expect(schedule(s, 8)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000, null]);
  });

  it('jitter defaults to ±10 %', () => {
    const low = RetryStrategy.exponential({ initialDelay: 1000, random: () => 0 });
    const mid = RetryStrategy.exponential({ initialDelay: 1000, random: () => 0.5 });
    const high = RetryStrategy.exponential({ initialDelay: 1000, random: () => ALMOST_ONE });
    expect(low.nextDelay(1, 6)).toBeCloseTo(900, 9);
    expect(mid.nextDelay(1, 6)).toBeCloseTo(1000, 9);
    expect(high.nextDelay(1, 6)).toBeCloseTo(1100, 6);
    expect(low.nextDelay(3, 6)).toBeCloseTo(3600, 9);
  });

  it('jitter never exceeds maxDelay and is never negative', () => {
    for (const r of [0, 0.5, 0.9, 0.999999, ALMOST_ONE, 1]) {
      const s = RetryStrategy.exponential({ initialDelay: 100, maxDelay: 1000, random: () => r });
      for (let attempt = 1; attempt < 40; attempt++) {
        const d = s.nextDelay(attempt, Infinity)!;
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(1000);
      }
    }
    // At the cap, the upper half of the jitter range is clamped to maxDelay.
    const s = RetryStrategy.exponential({ initialDelay: 1000, maxDelay: 1000, random: () => ALMOST_ONE });
    expect(s.nextDelay(1, 6)).toBe(1000);
  });

  it("'full' jitter is uniform in [0, capped delay]", () => {
    const at = (r: number, attempt: number) =>
      RetryStrategy.exponential({ initialDelay: 100, maxDelay: 500, jitter: 'full', random: () => r }).nextDelay(attempt, 10);
    expect(at(0, 1)).toBe(0);
    expect(at(0.5, 1)).toBe(50);
    expect(at(0.5, 3)).toBe(200);
    expect(at(ALMOST_ONE, 5)).toBeLessThan(500);
    expect(at(ALMOST_ONE, 5)).toBeGreaterThan(499.99);
    expect(at(1, 9)).toBe(500);
  });

  it("'equal' jitter is uniform in [capped / 2, capped]", () => {
    const at = (r: number, attempt: number) =>
      RetryStrategy.exponential({ initialDelay: 100, maxDelay: 500, jitter: 'equal', random: () => r }).nextDelay(attempt, 10);
    expect(at(0, 1)).toBe(50);
    expect(at(0.5, 2)).toBe(150);
    expect(at(1, 9)).toBe(500);
  });

  it('a misbehaving random() cannot push a delay out of bounds', () => {
    for (const r of [-5, 7, Number.NaN, Infinity]) {
      const d = RetryStrategy.exponential({ initialDelay: 100, maxDelay: 100, random: () => r }).nextDelay(1, 6)!;
      expect(d).toBeGreaterThanOrEqual(90);
      expect(d).toBeLessThanOrEqual(100);
    }
  });

  it('zero initial delay stays zero even when multiplier ** n overflows', () => {
    const s = RetryStrategy.exponential({ initialDelay: 0, jitter: false });
    expect(s.nextDelay(5000, Infinity)).toBe(0);
  });

  it('huge attempt numbers stay at maxDelay', () => {
    const s = RetryStrategy.exponential({ initialDelay: 1, maxDelay: 1000, jitter: false });
    expect(s.nextDelay(100_000, Infinity)).toBe(1000);
  });

  it('calls random() once per decision, and only when jittering', () => {
    let calls = 0;
    const random = () => {
      calls++;
      return 0.5;
    };
    RetryStrategy.exponential({ initialDelay: 10, random }).nextDelay(1, 6);
    expect(calls).toBe(1);
    RetryStrategy.exponential({ initialDelay: 10, jitter: false, random }).nextDelay(1, 6);
    expect(calls).toBe(1);
  });

  it('validation errors name their field', () => {
    const field = (opts: unknown) => configError(() => RetryStrategy.exponential(opts as { initialDelay: number })).field;
    expect(field({ initialDelay: -1 })).toBe('retryStrategy.initialDelay');
    expect(field({ initialDelay: Number.NaN })).toBe('retryStrategy.initialDelay');
    expect(field({})).toBe('retryStrategy.initialDelay');
    expect(field({ initialDelay: 10, maxDelay: -1 })).toBe('retryStrategy.maxDelay');
    expect(field({ initialDelay: 10, maxDelay: Number.NaN })).toBe('retryStrategy.maxDelay');
    expect(field({ initialDelay: 10, maxDelay: 5 })).toBe('retryStrategy.maxDelay');
    // The default maxDelay (30 s) is below this initial delay.
    expect(field({ initialDelay: 60_000 })).toBe('retryStrategy.maxDelay');
    expect(field({ initialDelay: 10, multiplier: 0.5 })).toBe('retryStrategy.multiplier');
    expect(field({ initialDelay: 10, multiplier: Number.NaN })).toBe('retryStrategy.multiplier');
    expect(field({ initialDelay: 10, multiplier: Infinity })).toBe('retryStrategy.multiplier');
    expect(field({ initialDelay: 10, jitter: 'half' })).toBe('retryStrategy.jitter');
    expect(field({ initialDelay: 10, random: 0.5 })).toBe('retryStrategy.random');
    expect(field(null)).toBe('retryStrategy');
    expect(configError(() => RetryStrategy.exponential({ initialDelay: -1 })).message).toMatch(/^retryStrategy\.initialDelay: /);
  });

  it('multiplier 1 is a constant delay', () => {
    const s = RetryStrategy.exponential({ initialDelay: 70, multiplier: 1, jitter: false });
    expect(schedule(s, 4)).toEqual([70, 70, 70, null]);
  });
});

describe('custom', () => {
  it('passes attempt, maxAttempts and the error, and uses the answer', () => {
    const seen: unknown[] = [];
    const failure = new Error('boom');
    const s = RetryStrategy.custom((attempt, maxAttempts, error) => {
      seen.push([attempt, maxAttempts, error]);
      return attempt * 10;
    });
    expect(s.kind).toBe('custom');
    expect(s.nextDelay(2, 5, failure)).toBe(20);
    expect(seen).toEqual([[2, 5, failure]]);
    expect(s.decide(3, 5)).toEqual({ retry: true, delay: 30 });
  });

  it('0, negative, null, undefined, NaN and Infinity mean stop', () => {
    for (const answer of [0, -0, -1, null, undefined, Number.NaN, Infinity]) {
      const s = RetryStrategy.custom(() => answer);
      expect(s.nextDelay(1, 6)).toBeNull();
      expect(s.decide(1, 6)).toEqual({ retry: false, reason: 'stopped' });
    }
  });

  it('a non-number answer at runtime means stop', () => {
    const s = RetryStrategy.custom((() => '100') as unknown as () => number);
    expect(s.nextDelay(1, 6)).toBeNull();
  });

  it('can stop early, which the Swift original could not', () => {
    const s = RetryStrategy.custom((attempt) => (attempt < 3 ? 100 : 0));
    expect(schedule(s, 6)).toEqual([100, 100, null, null, null, null]);
  });

  it('clamps a delay above the timer limit', () => {
    expect(RetryStrategy.custom(() => 1e12).nextDelay(1, 6)).toBe(MAX_RETRY_DELAY);
  });

  it('a throwing function stops retrying; nextDelay does not throw, decide surfaces the error', () => {
    const thrown = new Error('bad strategy');
    const s = RetryStrategy.custom(() => {
      throw thrown;
    });
    expect(s.nextDelay(1, 6)).toBeNull();
    const decision = s.decide(2, 6);
    expect(decision.retry).toBe(false);
    if (decision.retry) return;
    expect(decision.reason).toBe('strategy-failed');
    expect(decision.error).toBeInstanceOf(RetryStrategyError);
    expect(decision.error?.code).toBe('ERR_RETRY_STRATEGY');
    expect(decision.error?.attempt).toBe(2);
    expect(decision.error?.cause).toBe(thrown);
  });

  it('rejects a non-function', () => {
    expect(configError(() => RetryStrategy.custom(42 as unknown as () => number)).field).toBe('retryStrategy');
  });
});

describe('checkRetryStrategy', () => {
  it('accepts strategies and names the field otherwise', () => {
    const s = RetryStrategy.fixed(1);
    expect(checkRetryStrategy('retryStrategy', s)).toBe(s);
    for (const bad of [null, undefined, 5, {}, { nextDelay: () => 1 }]) {
      expect(configError(() => checkRetryStrategy('retryStrategy', bad)).field).toBe('retryStrategy');
    }
  });

  it('strategies are frozen and stateless (safe to share)', () => {
    const s = RetryStrategy.exponential({ initialDelay: 10, jitter: false });
    expect(Object.isFrozen(s)).toBe(true);
    expect(s.nextDelay(3, 6)).toBe(s.nextDelay(3, 6));
  });
});

describe('permanent errors', () => {
  const attemptError = (code: string, phase: 'tcp' | 'tls' = 'tls') =>
    new ConnectAttemptError({ code, host: '127.0.0.1', port: 1, cacheKey: 'k', tls: phase === 'tls', phase }, code);
  const nodeError = (code: string) => Object.assign(new Error(code), { code });
  const permanent = [
    attemptError('SELF_SIGNED_CERT_IN_CHAIN'),
    attemptError('DEPTH_ZERO_SELF_SIGNED_CERT'),
    attemptError('ERR_TLS_CERT_ALTNAME_INVALID'),
    attemptError('CERT_HAS_EXPIRED'),
    attemptError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'),
    attemptError('UNABLE_TO_GET_ISSUER_CERT_LOCALLY'),
    attemptError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'),
    nodeError('ERR_OSSL_PEM_NO_START_LINE'),
    nodeError('ERR_OSSL_BAD_DECRYPT'),
    new ConfigurationError('servers[0].tls.key', 'is not a usable private key'),
    // A factory's own error wrapping a verification failure.
    new Error('could not open the database connection', { cause: nodeError('CERT_HAS_EXPIRED') }),
  ];
  const transient = [
    attemptError('ECONNREFUSED', 'tcp'),
    attemptError('ECONNRESET'),
    new ConnectTimeoutError({ host: '127.0.0.1', port: 1, cacheKey: 'k', tls: true, phase: 'tls', timeout: 10 }),
    attemptError('ENOTFOUND', 'tcp'),
    attemptError('EAI_AGAIN', 'tcp'),
    attemptError('ERR_CONNECTION_CLOSED'),
    attemptError('EPROTO'),
    nodeError('ECANCELED'),
    new Error('no code at all'),
    new AggregateError([nodeError('ECONNREFUSED'), nodeError('ECONNREFUSED')]),
    undefined,
    'a string',
  ];

  it('isPermanentError: verification failures and bad local configuration are permanent; resets, timeouts, refusals, DNS are not', () => {
    expect(permanent.map(isPermanentError)).toEqual(permanent.map(() => true));
    expect(transient.map(isPermanentError)).toEqual(transient.map(() => false));
  });

  it('every strategy stops at once on a permanent error, with reason permanent', () => {
    const strategies = [
      RetryStrategy.fixed(10),
      RetryStrategy.exponential({ initialDelay: 10 }),
      RetryStrategy.custom(() => 10),
    ];
    for (const s of strategies) {
      for (const error of permanent) {
        expect(s.nextDelay(1, 6, error)).toBeNull();
        expect(s.decide(1, 6, error)).toEqual({ retry: false, reason: 'permanent' });
      }
      for (const error of transient) expect(s.nextDelay(1, 6, error)).not.toBeNull();
    }
  });

  it('the custom function is not consulted for a permanent error', () => {
    let calls = 0;
    const s = RetryStrategy.custom(() => ++calls);
    expect(s.nextDelay(1, 6, permanent[0])).toBeNull();
    expect(calls).toBe(0);
  });

  it('a retryable predicate overrides the classification, both ways', () => {
    const always = () => true;
    const onlyRefused = (error: unknown) => (error as { code?: string } | undefined)?.code === 'ECONNREFUSED';
    for (const s of [
      RetryStrategy.fixed(10, { retryable: always }),
      RetryStrategy.exponential({ initialDelay: 10, jitter: false, retryable: always }),
      RetryStrategy.custom(() => 10, { retryable: always }),
    ]) {
      expect(s.nextDelay(1, 6, permanent[0])).toBe(10);
      // The budget still counts.
      expect(s.decide(6, 6, permanent[0])).toEqual({ retry: false, reason: 'exhausted' });
    }
    const picky = RetryStrategy.fixed(10, { retryable: onlyRefused });
    expect(picky.nextDelay(1, 6, attemptError('ECONNREFUSED', 'tcp'))).toBe(10);
    expect(picky.decide(1, 6, attemptError('ECONNRESET'))).toEqual({ retry: false, reason: 'permanent' });
  });

  it('a throwing retryable predicate stops retrying, reported as strategy-failed', () => {
    const thrown = new Error('bad predicate');
    const s = RetryStrategy.fixed(10, {
      retryable: () => {
        throw thrown;
      },
    });
    expect(s.nextDelay(1, 6, permanent[0])).toBeNull();
    const decision = s.decide(1, 6, permanent[0]);
    expect(decision.retry === false && decision.reason).toBe('strategy-failed');
    expect(decision.retry === false && decision.error?.cause).toBe(thrown);
  });

  it('validates retryable, naming the field', () => {
    expect(configError(() => RetryStrategy.fixed(10, { retryable: 'yes' as unknown as () => boolean })).field).toBe('retryStrategy.retryable');
    expect(configError(() => RetryStrategy.exponential({ initialDelay: 1, retryable: 1 as unknown as () => boolean })).field).toBe('retryStrategy.retryable');
    expect(configError(() => RetryStrategy.custom(() => 1, null as unknown as object)).field).toBe('retryStrategy.options');
  });

  it('retryDelay answers null for a permanent error, also with a strategy built by hand', () => {
    const byHand: RetryStrategy = {
      kind: 'custom',
      nextDelay: () => 50,
      decide: () => ({ retry: true, delay: 50 }),
    };
    const policy: RetryPolicy = { strategy: byHand, maxAttempts: 6, attemptTimeout: 1000 };
    expect(retryDelay(policy, 1, 6, permanent[0])).toBeNull();
    expect(retryDelay(policy, 1, 6, transient[0])).toBe(50);
    expect(retryDelay({ ...policy, strategy: RetryStrategy.fixed(20) }, 1, 6, permanent[1])).toBeNull();
    expect(retryDelay({ ...policy, strategy: RetryStrategy.fixed(20, { retryable: () => true }) }, 1, 6, permanent[1])).toBe(20);
    expect(retryDelay(NO_RETRY, 1, 1, transient[0])).toBeNull();
  });
});
