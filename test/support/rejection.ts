import { expect } from 'vitest';
import { ConfigurationError } from '../../src/index.js';

/** The error `p` rejects with; fails the test if it resolves instead. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** The ConfigurationError `p` rejects with; fails the test if it resolves or rejects with anything else. */
export async function configurationRejection(p: Promise<unknown>): Promise<ConfigurationError> {
  const error = await rejection(p);
  expect(error).toBeInstanceOf(ConfigurationError);
  return error as ConfigurationError;
}
