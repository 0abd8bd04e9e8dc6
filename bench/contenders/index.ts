import type { Contender } from './types.js';

export const CONTENDER_NAMES = ['generic-pool', 'tarn', 'bare', 'cmk'] as const;
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
  }
}
