/**
 * The heartbeat ticker of the training activities: its period follows the heartbeatTimeout
 * the workflow scheduled the activity with, and it fires while the work yields to the event
 * loop (ml/event-loop), which is what keeps a long PPO update alive.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { heartbeatTickMs, TICKS_PER_HEARTBEAT_TIMEOUT, withHeartbeatTicker } from '../../activities/heartbeat';
import { yieldToEventLoop } from '../../ml/event-loop';

describe('heartbeatTickMs', () => {
  it('is a third of the heartbeatTimeout the activity was scheduled with', async () => {
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 });
    expect(TICKS_PER_HEARTBEAT_TIMEOUT).toBe(3);
    expect(await env.run(async () => heartbeatTickMs())).toBe(3333);
    const slow = new MockActivityEnvironment({ heartbeatTimeoutMs: 300_000 });
    expect(await slow.run(async () => heartbeatTickMs())).toBe(100_000);
  });

  it('is 0 (no ticker) without a heartbeatTimeout, and an explicit period wins', async () => {
    expect(await new MockActivityEnvironment().run(async () => heartbeatTickMs())).toBe(0);
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 10_000 });
    expect(await env.run(async () => heartbeatTickMs(0))).toBe(0);
    expect(await env.run(async () => heartbeatTickMs(250))).toBe(250);
  });
});

describe('withHeartbeatTicker', () => {
  it('re-sends the latest details while the work yields, and stops with the work', async () => {
    const env = new MockActivityEnvironment();
    const seen: unknown[] = [];
    env.on('heartbeat', (d: unknown) => seen.push(d));
    let update = 0;
    const result = await env.run(() =>
      withHeartbeatTicker(
        () => ({ update }),
        async () => {
          // Synchronous work between yields, as the PPO loops do; ends once the ticker has fired thrice.
          while (seen.length < 3) {
            update += 1;
            await yieldToEventLoop();
          }
          return 'done';
        },
        1,
      ),
    );
    expect(result).toBe('done');
    expect(seen.length).toBe(3);
    expect(seen[2]).toEqual({ update: expect.any(Number) });
    // The interval is cleared: more event-loop turns bring no further heartbeat.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 1));
    expect(seen.length).toBe(3);
  });
});
