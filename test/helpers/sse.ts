/**
 * A Server-Sent Events reader over fetch() and a ReadableStream, the way a browser page or the
 * CLI reads GET /api/runs/:runId/events (EventSource cannot send an Authorization header).
 */
import type { RunEvent } from '../../common/run-events';

export interface SseRead {
  events: RunEvent[];
  /** True when the server ended the stream; false when `until` stopped the reading (a disconnect). */
  ended: boolean;
  /** Comment lines seen (heartbeats). */
  comments: number;
}

/** Parses complete SSE blocks; returns the events and the unparsed rest. */
export function parseSseBlocks(text: string): { events: RunEvent[]; comments: number; rest: string } {
  const blocks = text.split('\n\n');
  const rest = blocks.pop() ?? '';
  const events: RunEvent[] = [];
  let comments = 0;
  for (const block of blocks) {
    const lines = block.split('\n');
    comments += lines.filter((l) => l.startsWith(':')).length;
    const data = lines.find((l) => l.startsWith('data: '));
    if (!data) continue;
    const event = JSON.parse(data.slice(6)) as RunEvent;
    const id = lines.find((l) => l.startsWith('id: '));
    const kind = lines.find((l) => l.startsWith('event: '));
    if (Number(id?.slice(4)) !== event.id || kind?.slice(7) !== event.kind) throw new Error(`SSE fields disagree with the data line: ${block}`);
    events.push(event);
  }
  return { events, comments, rest };
}

/** Reads the stream until it ends or `until(events)` is true (then disconnects). */
export async function readSse(url: string, headers: Record<string, string>, until: (events: RunEvent[]) => boolean = () => false): Promise<SseRead> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  if (res.status !== 200 || !res.body) throw new Error(`events answered ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const out: SseRead = { events: [], ended: false, comments: 0 };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) {
      out.ended = true;
      return out;
    }
    buffer += decoder.decode(value, { stream: true });
    const parsed = parseSseBlocks(buffer);
    buffer = parsed.rest;
    out.events.push(...parsed.events);
    out.comments += parsed.comments;
    if (until(out.events)) {
      abort.abort();
      await reader.cancel().catch(() => undefined);
      return out;
    }
  }
}
