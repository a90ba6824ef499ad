/** The part of autocannon 9's programmatic API the load check uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface AutocannonOptions {
    url: string;
    method?: 'GET' | 'POST';
    connections?: number;
    amount?: number;
    /** Seconds. */
    timeout?: number;
    headers?: Record<string, string>;
    body?: string;
    setupClient?: (client: EventEmitter) => void;
  }

  interface AutocannonResult {
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    requests: { average: number; total: number };
    latency: { p50: number; p99: number };
  }

  function autocannon(options: AutocannonOptions): Promise<AutocannonResult>;
  export default autocannon;
}
