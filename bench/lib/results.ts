/**
 * Writes one bench's section of bench/RESULTS.md. Each bench owns the text between
 * `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->` and replaces only that, so several
 * benches (and engineers) can write the same file; a missing section is appended. The
 * read-modify-write holds an exclusive lock file so two benches finishing together cannot
 * lose each other's update, and the new file is renamed into place (never half written).
 */
import { promises as fs } from 'node:fs';
import { atomicWriteFile } from '../../storage/atomic-write';
import * as os from 'node:os';
import * as path from 'node:path';

export const RESULTS_FILE = path.join(__dirname, '..', 'RESULTS.md');
const LOCK_WAIT_MS = 30_000;

export const sectionMarkers = (name: string) => ({ start: `<!-- bench:${name}:start -->`, end: `<!-- bench:${name}:end -->` });

/** `text` with NAME's section replaced by `body` (or appended when absent). */
export function replaceSection(text: string, name: string, body: string): string {
  const { start, end } = sectionMarkers(name);
  const block = `${start}\n${body.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) return text.slice(0, i) + block + text.slice(j + end.length);
  const sep = text.length === 0 || text.endsWith('\n\n') ? '' : text.endsWith('\n') ? '\n' : '\n\n';
  return `${text}${sep}${block}\n`;
}

async function withLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const handle = await fs.open(lock, 'wx');
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() > deadline) throw new Error(`${lock} held for over ${LOCK_WAIT_MS / 1000} s; remove it if no bench is running`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}

/** Replaces NAME's section of bench/RESULTS.md (or of `file`). */
export async function writeSection(name: string, body: string, file = RESULTS_FILE): Promise<void> {
  await withLock(file, async () => {
    const text = await fs.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    await atomicWriteFile(file, replaceSection(text, name, body));
  });
}

/** A markdown table from a header row and body rows. */
export function mdTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** The 1-minute load average and the time at one moment, e.g. when a bench starts. */
export interface LoadSnapshot {
  load: number;
  date: Date;
}

export function loadSnapshot(): LoadSnapshot {
  return { load: os.loadavg()[0], date: new Date() };
}

/**
 * One line naming the machine, for every section: CPU, cores, memory, Node, load at the start.
 * `start`: taken when the bench began; without it, now (a bench that calls this while writing
 * its report then shows the load at its end).
 */
export function machineLine(extra = '', start: LoadSnapshot = loadSnapshot()): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  const load = start.load.toFixed(2);
  const mem = (os.totalmem() / 2 ** 30).toFixed(0);
  return `Machine: ${cpu}, ${os.cpus().length} cores (shared with other work), ${mem} GiB, Node ${process.version}, load ${load} at start${extra ? `; ${extra}` : ''}. Date: ${start.date.toISOString().slice(0, 16)}Z.`;
}
