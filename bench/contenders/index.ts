import type { Contender } from './types.js';

/** Every contender, in table order; cmk-handle and cmk-lease are cmk through its Pool handle. */
export const CONTENDER_NAMES = ['generic-pool', 'tarn', 'bare', 'cmk', 'cmk-handle', 'cmk-lease'] as const;
export type ContenderName = (typeof CONTENDER_NAMES)[number];

export function isContenderName(name: string): name is ContenderName {
  return (CONTENDER_NAMES as readonly string[]).includes(name);
}

/** Loads one adapter module; throws (and the runner skips the contender) when it cannot load. */
export async function loadContender(name: ContenderName): Promise<Contender> {
  switch (name) {
    case 'generic-pool':
      return (await import('./generic-pool.js')).genericPoolContender;
    case 'tarn':
      return (await import('./tarn.js')).tarnContender;
    case 'bare':
      return (await import('./bare.js')).bare;
    case 'cmk':
      return (await import('./cmk.js')).loadCmk();
    case 'cmk-handle':
      return (await import('./cmk-handle.js')).loadCmkHandle();
    case 'cmk-lease':
      return (await import('./cmk-handle.js')).loadCmkLease();
  }
}

/** Whether a contender takes part in a scenario (see Contender.scenarios). */
export function takesPart(contender: Contender, scenario: string): boolean {
  return contender.scenarios === undefined || contender.scenarios.includes(scenario);
}
