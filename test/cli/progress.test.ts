import { formatBytes, formatDuration, progressBar, renderBytesLine, renderProgressLine } from '../../cli/progress';

describe('demo progress line', () => {
  test('formats durations as m:ss', () => {
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(61_400)).toBe('1:01');
    expect(formatDuration(-5)).toBe('0:00');
  });

  test('bar fills in proportion to step/total and clamps', () => {
    expect(progressBar(5, 10, 10)).toBe('█████░░░░░');
    expect(progressBar(20, 10, 4)).toBe('████');
    expect(progressBar(1, 0, 4)).toBe('░░░░');
  });

  test('shows phase, step, reward, KL and ETA', () => {
    const line = renderProgressLine(
      {
        status: 'running',
        progress: { phase: 'ppo', step: 3, total: 12, etaMs: 90_000, paused: false, latestMetrics: { 'objective/scores': 0.4567, 'objective/kl': 1.25 } },
      },
      1000,
    );
    expect(line).toContain('[ppo');
    expect(line).toContain('3/12');
    expect(line).toContain('reward 0.457');
    expect(line).toContain('KL 1.250');
    expect(line).toContain('ETA 1:30');
  });

  test('says paused and waits before the first progress answer', () => {
    expect(renderProgressLine({ status: 'queued', progress: null }, 5000)).toBe('[queued] waiting for the workflow… 0:05');
    const paused = renderProgressLine({ status: 'paused', progress: { phase: 'ppo', step: 1, total: 2, etaMs: null, paused: true, latestMetrics: null } }, 2000);
    expect(paused).toContain('[paused');
    expect(paused).toContain('elapsed 0:02');
  });

  test('upload line: whole percents of the total, in SI bytes', () => {
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(2_345_678_901)).toBe('2.3 GB');
    expect(renderBytesLine('sent', 0, 3_200_000)).toBe(`sent  ${'░'.repeat(24)}    0% of 3.2 MB`);
    expect(renderBytesLine('sent', 1_319_999, 3_200_000)).toContain(' 41% of 3.2 MB');
    expect(renderBytesLine('sent', 3_200_000, 3_200_000)).toBe(`sent  ${'█'.repeat(24)}  100% of 3.2 MB`);
  });
});
