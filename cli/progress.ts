/**
 * The progress bar of the CLI and the demo, in one place: one line of live run progress (phase, a bar for
 * step/total, the latest reward and KL, the ETA), one line of a counted transfer (rows, or bytes sent), and a
 * `TerminalLine` that redraws a line in place on a TTY and prints one line per change elsewhere (logs, CI,
 * pipes). The renderers are pure, so they are unit-tested.
 */
import { MetricKeys } from '../common/names';

export interface ProgressView {
  status: string;
  progress?: {
    phase: string;
    step: number;
    total: number;
    etaMs: number | null;
    latestMetrics: Record<string, number> | null;
    paused: boolean;
  } | null;
}

const BAR_WIDTH = 24;

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function progressBar(step: number, total: number, width = BAR_WIDTH): string {
  const frac = total > 0 ? Math.min(1, Math.max(0, step / total)) : 0;
  const full = Math.round(frac * width);
  return `${'█'.repeat(full)}${'░'.repeat(width - full)}`;
}

export function renderProgressLine(view: ProgressView, elapsedMs: number): string {
  const p = view.progress;
  if (!p) return `[${view.status}] waiting for the workflow… ${formatDuration(elapsedMs)}`;
  const m = p.latestMetrics ?? {};
  const reward = m[MetricKeys.scores];
  const kl = m[MetricKeys.klObjective];
  const parts = [
    `[${(p.paused ? 'paused' : p.phase).padEnd(14)}]`,
    progressBar(p.step, p.total),
    `${p.step}/${p.total}`.padStart(7),
    reward === undefined ? '' : `reward ${reward.toFixed(3)}`,
    kl === undefined ? '' : `KL ${kl.toFixed(3)}`,
    p.etaMs === null ? `elapsed ${formatDuration(elapsedMs)}` : `ETA ${formatDuration(p.etaMs)}`,
  ];
  return parts.filter(Boolean).join('  ');
}

/** `label ████░░░░ done/total` for a counted transfer, e.g. feedback rows sent. */
export function renderCountLine(label: string, done: number, total: number): string {
  return `${label}  ${progressBar(done, total)}  ${`${done}/${total}`.padStart(String(total).length * 2 + 1)}`;
}

/** `1.5 MB`: decimal units (SI), one decimal from kB up. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/**
 * `label ████░░░░  41% of 3.2 MB` for an upload. Whole percents only, so a log (one line per change) gets
 * at most 101 lines however large the body.
 */
export function renderBytesLine(label: string, sent: number, total: number): string {
  const percent = total > 0 ? Math.floor((Math.min(sent, total) / total) * 100) : 100;
  return `${label}  ${progressBar(percent, 100)}  ${`${percent}%`.padStart(4)} of ${formatBytes(total)}`;
}

/** Where a TerminalLine writes: a stream, and whether it is a terminal (redraw) or not (one line each). */
export interface LineSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * A progress line on a terminal: `update` redraws it in place (TTY) or prints it when it changed
 * (anything else, so a log gets one line per change, never the same line twice); `end` finishes it.
 */
export class TerminalLine {
  private last: string | null = null;
  private width = 0;

  constructor(private readonly sink: LineSink) {}

  update(line: string): void {
    if (line === this.last) return;
    this.last = line;
    if (this.sink.isTTY) {
      this.width = Math.max(this.width, line.length);
      this.sink.write(`\r${line.padEnd(this.width)}`);
    } else {
      this.sink.write(`${line}\n`);
    }
  }

  /** Ends the line (a newline after an in-place line); later output starts on a fresh line. */
  end(): void {
    if (this.sink.isTTY && this.last !== null) this.sink.write('\n');
    this.last = null;
    this.width = 0;
  }
}
