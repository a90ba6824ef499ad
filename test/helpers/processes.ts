/**
 * Real child processes for fault tests: workers, the API and a Temporal dev server, each in
 * its own process group so that `kill9()` kills everything it started (tsx's CLI runs the
 * script in a child process; killing only the CLI would leave that child training).
 *
 * A `ProcessGroup` owns every process it spawns; `stopAll()` (call it in afterAll/afterEach)
 * kills whatever is still alive, so no test leaves a worker polling after it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const TSX_CLI = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

/** Thrown when a child process does not print an expected line in time, or exits first. */
export class ProcessWaitError extends Error {
  override readonly name = 'ProcessWaitError';
  constructor(
    message: string,
    readonly processName: string,
  ) {
    super(message);
  }
}

/** One spawned process (group) with its captured output. */
export class ManagedProcess {
  private text = '';
  private exitCode: number | null | undefined = undefined;
  /** Resolves with the exit code (null when killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    private readonly echo: boolean,
  ) {
    const onData = (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      this.text += s;
      if (this.echo) process.stderr.write(s.replace(/^/gm, `[${this.name}] `));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.exitCode = code;
        resolve(code);
      });
      child.once('error', (err) => {
        this.text += `\n[spawn error] ${err.message}\n`;
        this.exitCode = null;
        resolve(null);
      });
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new ProcessWaitError(`${this.name} has no pid (spawn failed)`, this.name);
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  /** Everything the process printed so far (stdout and stderr interleaved). */
  output(): string {
    return this.text;
  }

  /** Current output length: pass it as `since` to wait only for lines printed after now. */
  mark(): number {
    return this.text.length;
  }

  /** Waits until the output (from offset `since`) matches `pattern`; fails if the process exits first. */
  async waitFor(pattern: RegExp, opts: { since?: number; limitMs?: number } = {}): Promise<RegExpMatchArray> {
    const limitMs = opts.limitMs ?? 120_000;
    const deadline = Date.now() + limitMs;
    for (;;) {
      const match = this.text.slice(opts.since ?? 0).match(pattern);
      if (match) return match;
      if (!this.alive) {
        throw new ProcessWaitError(`${this.name} exited (code ${this.exitCode}) before printing ${pattern}; output:\n${this.tail()}`, this.name);
      }
      if (Date.now() > deadline) throw new ProcessWaitError(`${this.name} did not print ${pattern} within ${limitMs} ms; output:\n${this.tail()}`, this.name);
      await sleep(50);
    }
  }

  /** The last lines of output, for failure messages. */
  tail(lines = 30): string {
    return this.text.split('\n').slice(-lines).join('\n');
  }

  /** `kill -9` of the whole process group, then waits until the process is reaped. */
  async kill9(): Promise<void> {
    this.signalGroup('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful shutdown), then SIGKILL after `graceMs`; resolves when gone. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
    // The group may hold grandchildren that outlive a graceful leader.
    this.signalGroup('SIGKILL');
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
}

export interface SpawnOptions {
  /** Environment of the child: merged over process.env. */
  env?: NodeJS.ProcessEnv;
  /** Copy the child's output to this process's stderr, prefixed with its name (debugging). */
  echo?: boolean;
  cwd?: string;
}

/** Spawns and tracks processes; `stopAll` ends every one still alive. */
export class ProcessGroup {
  private readonly processes: ManagedProcess[] = [];

  /** Any executable, in a new process group. */
  spawn(name: string, command: string, args: string[], opts: SpawnOptions = {}): ManagedProcess {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const managed = new ManagedProcess(name, child, opts.echo ?? process.env.CHAOS_ECHO === '1');
    this.processes.push(managed);
    return managed;
  }

  /** A TypeScript entry point run the way operators run it: `node node_modules/tsx/dist/cli.mjs <script>`. */
  spawnTsx(name: string, script: string, opts: SpawnOptions = {}): ManagedProcess {
    return this.spawn(name, process.execPath, [TSX_CLI, script], opts);
  }

  /** Kills every process still alive (SIGKILL: tests do not need graceful ends here). */
  async stopAll(): Promise<void> {
    await Promise.all(this.processes.filter((p) => p.alive).map((p) => p.kill9()));
  }
}

export const WorkerScripts = {
  cpu: 'worker/cpu.ts',
  gpu: 'worker/gpu.ts',
} as const;

/** Lines the entry points print once ready (worker/cpu.ts, worker/gpu.ts, Fastify's listen log). */
export const ReadyLines = {
  cpuWorker: /cpu worker polling/,
  gpuWorker: /gpu worker polling/,
  api: /Server listening at/,
} as const;

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new ProcessWaitError(`nothing listens on 127.0.0.1:${port} after ${limitMs} ms`, `port ${port}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
