/**
 * Heartbeats for long computations. Temporal notices a dead worker only through a missed
 * heartbeat (heartbeatTimeout) and delivers a cancel only on a heartbeat, so a training
 * activity must heartbeat well within the timeout even when one unit of work (a PPO update
 * on a big preset) is long. The SDK throttles heartbeats to 0.8 × heartbeatTimeout, so
 * calling often costs nothing.
 */
import { Context } from '@temporalio/activity';

/**
 * Runs `fn` while re-sending `details()` every `everyMs` (0: never). The timer fires only
 * when the event loop gets a turn (the PPO trainer yields between rollout and update), so a
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
