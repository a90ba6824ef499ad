/**
 * Giving the event loop a turn inside long synchronous tensor work.
 *
 * tfjs on the WASM/CPU backend runs every kernel on the main thread, so a PPO update, a
 * rollout or a reward-model epoch blocks timers and I/O for as long as it computes. The
 * worker's heartbeat timer (activities/heartbeat.ts) and Temporal's delivery of a cancel
 * only run when the loop gets a turn, and the heartbeat timeout has to cover the longest
 * stretch without one. Loops over tokens, minibatches and batches therefore await this
 * between units of work. It changes no numbers: nothing random or stateful happens in it.
 */

/**
 * Resolves from the event loop's check phase (`setImmediate`), so due timers and I/O
 * callbacks get their turn first (Node docs, "The Node.js Event Loop": timers → poll →
 * check). A bare `await` would only drain microtasks, which lets no timer fire. Costs µs.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
