/**
 * Server-Sent Events for the CLI: a parser of the `text/event-stream` format (WHATWG HTML §9.2, "Server-sent
 * events": `event:`, `data:` (joined by newlines), `id:`, comments, an event ends at a blank line; CR, LF
 * and CRLF all end lines) and a reader that yields events of one response body.
 */

export interface SseEvent {
  /** `event:` field; "message" when absent (the spec's default). */
  event: string;
  data: string;
  /** The last `id:` seen so far in the stream (the spec's "last event ID"), or null. */
  id: string | null;
}

/** Incremental parser: feed decoded text in any chunking, get complete events out. */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private lastId: string | null = null;
  /** A CR at the end of the previous chunk: a following LF belongs to it (CRLF split across chunks). */
  private pendingCr = false;

  push(text: string): SseEvent[] {
    let chunk = text;
    if (this.pendingCr && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.pendingCr = chunk.endsWith('\r');
    this.buffer += chunk;
    const out: SseEvent[] = [];
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (this.data.length === 0) {
        this.event = '';
        return null;
      }
      const event = { event: this.event || 'message', data: this.data.join('\n'), id: this.lastId };
      this.event = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return null;
  }
}

/** The events of one SSE response body, as they arrive. */
export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    yield* parser.push(decoder.decode(bytes, { stream: true }));
  }
  // At the end of the stream an event without its blank line is discarded (the spec's rule).
  yield* parser.push(decoder.decode());
}
