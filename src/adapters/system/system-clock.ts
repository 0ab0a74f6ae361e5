/**
 * The `Clock` port over the operating system's wall clock.
 */
import type { Clock } from '../../core/ports.ts';

/** The system wall clock. Tests pass a fake `Clock` instead. */
export const systemClock: Clock = {
  now: () => new Date(),
};
