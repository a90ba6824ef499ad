/**
 * One line of live run progress for a terminal: phase, a bar for step/total, the latest reward and KL, and
 * the ETA. Pure, so it is unit-tested; the demo redraws it in place.
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
