/** The SSE parser against the format's rules (WHATWG HTML, "Server-sent events"), in any chunking. */
import { readSse, SseParser, type SseEvent } from '../../cli/sse';

const STREAM = [': a comment, ignored', 'retry: 1000', 'id: 1', 'event: update', 'data: {"update":1}', '', 'data: line one', 'data: line two', '', 'id: 7', 'event: end', 'data:{"status":"completed"}', '', ''].join('\r\n');

const EXPECTED: SseEvent[] = [
  { event: 'update', data: '{"update":1}', id: '1' },
  // No id: field, so the last event id carries over; no event: field means "message".
  { event: 'message', data: 'line one\nline two', id: '1' },
  { event: 'end', data: '{"status":"completed"}', id: '7' },
];

it('parses events, multi-line data, comments and the last event id', () => {
  expect(new SseParser().push(STREAM)).toEqual(EXPECTED);
});

it('gives the same events however the text is chunked (CRLF split across chunks included)', () => {
  for (const size of [1, 2, 3, 5, 8, 13]) {
    const parser = new SseParser();
    const events: SseEvent[] = [];
    for (let i = 0; i < STREAM.length; i += size) events.push(...parser.push(STREAM.slice(i, i + size)));
    expect({ size, events }).toEqual({ size, events: EXPECTED });
  }
});

it('accepts LF and CR line ends, and discards an unterminated event at the end of the stream', async () => {
  expect(new SseParser().push('data: a\n\ndata: b\r\rdata: c')).toEqual([
    { event: 'message', data: 'a', id: null },
    { event: 'message', data: 'b', id: null },
  ]);
  const bytes = new TextEncoder().encode('id: 3\ndata: é\n\ndata: never finished');
  // The é is split across two chunks of bytes.
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 13) controller.enqueue(bytes.slice(i, i + 13));
      controller.close();
    },
  });
  const events: SseEvent[] = [];
  for await (const e of readSse(body)) events.push(e);
  expect(events).toEqual([{ event: 'message', data: 'é', id: '3' }]);
});
