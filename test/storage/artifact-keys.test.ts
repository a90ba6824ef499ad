import { checkpointKey, joinKey, parseArtifactKey, policyKey, runKey } from '../../storage/artifact-keys';

function rejectionName(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as Error).name;
  }
}

describe('artifact keys', () => {
  it('builds the seed layout and the run-scoped layout', () => {
    expect(policyKey('agent-1', 'v15', 'policy')).toBe('agent-1/v15/policy');
    expect(policyKey('agent-1', 'v15', 'training_results.json')).toBe('agent-1/v15/training_results.json');
    expect(runKey('run_abc', 'dataset', 'train.jsonl')).toBe('runs/run_abc/dataset/train.jsonl');
    expect(checkpointKey('run_abc', 12)).toBe('runs/run_abc/checkpoints/update-000012');
    expect(parseArtifactKey('a/b.c/d_e-f')).toEqual(['a', 'b.c', 'd_e-f']);
  });

  it.each([
    ['parent traversal', '../etc/passwd'],
    ['inner traversal', 'runs/../../x'],
    ['current dir', 'runs/./x'],
    ['absolute', '/etc/passwd'],
    ['empty', ''],
    ['empty segment', 'a//b'],
    ['trailing slash', 'a/b/'],
    ['NUL', 'a/b\0c'],
    ['backslash', 'a\\..\\b'],
    ['hidden name', 'a/.tmp-x'],
    ['space', 'a/b c'],
    ['newline', 'a/b\nc'],
    ['fullwidth solidus', 'a\uff0f..'],
    ['one dot leader', 'a/\u2024\u2024/b'],
    ['combining mark', 'a/e\u0301'],
    ['RTL override', 'a/\u202egpj.exe'],
    ['Cyrillic look-alike', 'runs/\u0430gent'],
    ['overlong segment', `a/${'x'.repeat(129)}`],
  ])('rejects %s', (_label, key) => {
    expect(rejectionName(() => parseArtifactKey(key))).toBe('InvalidArtifactKeyError');
  });

  it('rejects unsafe ids in runKey and policyKey, and bad parts', () => {
    expect(rejectionName(() => runKey('..', 'x'))).toBe('UnsafeIdError');
    expect(rejectionName(() => runKey('run/x'))).toBe('UnsafeIdError');
    expect(rejectionName(() => policyKey('agent', 'v1.2'))).toBe('UnsafeIdError');
    expect(rejectionName(() => policyKey('\u0430gent', 'v1'))).toBe('UnsafeIdError');
    expect(rejectionName(() => policyKey('agent', 'v1', '..'))).toBe('InvalidArtifactKeyError');
    expect(rejectionName(() => joinKey('a', '/b'))).toBe('InvalidArtifactKeyError');
    expect(rejectionName(() => checkpointKey('run_a', -1))).toBe('InvalidArtifactKeyError');
    expect(rejectionName(() => checkpointKey('run_a', 1.5))).toBe('InvalidArtifactKeyError');
  });
});
