/**
 * What every command gets: where to write, how to print (text or `--json`), and the API client built from
 * the global flags or the environment (`--api-url`/RLHF_API_URL, `--api-key`/RLHF_API_KEY; a flag wins).
 */
import { InvalidArgumentError } from 'commander';
import { RlhfApiClient } from './api-client';
import { UsageError } from './errors';
import type { LineSink } from './progress';

/** The API's default listen address (common/env.ts API_HOST/API_PORT). */
export const DEFAULT_API_URL = 'http://127.0.0.1:3000';

/** Environment variables the CLI reads. */
export const CliEnv = {
  apiUrl: 'RLHF_API_URL',
  apiKey: 'RLHF_API_KEY',
  databaseUrl: 'DATABASE_URL',
} as const;

export interface CliIo {
  out: LineSink;
  err: LineSink;
  env: NodeJS.ProcessEnv;
}

export interface GlobalOptions {
  apiUrl?: string;
  apiKey?: string;
  json?: boolean;
}

export class CliContext {
  constructor(
    readonly io: CliIo,
    private readonly globals: () => GlobalOptions,
  ) {}

  get json(): boolean {
    return this.globals().json === true;
  }

  /** The API client; a UsageError (exit 2) when no API key is configured. */
  client(): RlhfApiClient {
    const g = this.globals();
    const apiKey = g.apiKey ?? this.io.env[CliEnv.apiKey];
    if (!apiKey) throw new UsageError(`no API key: set ${CliEnv.apiKey} or pass --api-key (make one with \`rlhf keys create --project <name>\`)`);
    const baseUrl = g.apiUrl ?? this.io.env[CliEnv.apiUrl] ?? DEFAULT_API_URL;
    if (!/^https?:\/\/[^/]/.test(baseUrl)) throw new UsageError(`the API URL must be http(s)://host[:port], got ${JSON.stringify(baseUrl)}`);
    return new RlhfApiClient({ baseUrl, apiKey });
  }

  /** One line of output. */
  print(line = ''): void {
    this.io.out.write(`${line}\n`);
  }

  /** A value as pretty JSON (the `--json` output of every command). */
  printJson(value: unknown): void {
    this.io.out.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A note for people (stderr), kept out of stdout so `--json` output stays parseable. */
  note(line: string): void {
    this.io.err.write(`${line}\n`);
  }
}

/** commander option parser: a positive integer, or a usage error naming the value. */
export function positiveInt(value: string): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** commander option parser: a finite number. */
export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got ${JSON.stringify(value)}`);
  return n;
}
