/**
 * Heartbeats for long computations. Temporal notices a dead worker only through a missed
 * heartbeat (heartbeatTimeout) and delivers a cancel only on a heartbeat, so a training
 * activity must heartbeat well within the timeout even when one unit of work (a PPO update
 * on a big preset) is long. The SDK throttles heartbeats to 0.8 × heartbeatTimeout, so
 * calling often costs nothing.
 */
import { Context } from '@temporalio/activity';

/**
 * Ticks per heartbeat timeout. A tick can be late by the longest stretch of synchronous work
 * between two event-loop turns (ml/event-loop: one token, one minibatch, one batch), so the
 * timeout must exceed one period plus that stretch: with 3 ticks the stretch may take up to
 * two thirds of the timeout before the server sees a gap.
 */
export const TICKS_PER_HEARTBEAT_TIMEOUT = 3;

/**
 * The ticker period for the current activity: `overrideMs` when given (0: no ticker), else a
 * third of the activity's heartbeatTimeout, so the period follows whatever timeout the
 * workflow scheduled it with. No heartbeatTimeout: 0 (nothing to keep alive).
 */
export function heartbeatTickMs(overrideMs?: number): number {
  if (overrideMs !== undefined) return overrideMs;
  const timeoutMs = Context.current().info.heartbeatTimeoutMs ?? 0;
  return Math.floor(timeoutMs / TICKS_PER_HEARTBEAT_TIMEOUT);
}

/**
 * Runs `fn` while re-sending `details()` every `everyMs` (0: never). The timer fires only
 * when the event loop gets a turn (the ml loops yield per token, minibatch and batch), so a
 * computation that never yields still shows up as missing heartbeats, as it should.
 */
export async function withHeartbeatTicker<T>(details: () => unknown, fn: () => Promise<T>, everyMs: number): Promise<T> {
  if (everyMs <= 0) return fn();
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  try {
    return await fn();
  } finally {
    clearInterval(timer);
  }
}

/**
 * A `shouldStop` callback for the reward-model and SFT loops (called between batches):
 * heartbeats the latest progress and reports whether the activity was cancelled.
 */
export function heartbeatingStopCheck(latest: () => unknown): () => boolean {
  const ctx = Context.current();
  return () => {
    ctx.heartbeat(latest());
    return ctx.cancellationSignal.aborted;
  };
}
