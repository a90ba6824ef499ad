import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { LocalArtifactStore } from '../../storage/artifact-store';

const repoRoot = path.resolve(__dirname, '../..');
let root: string;
let store: LocalArtifactStore;

beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'artifact-store-'));
  store = new LocalArtifactStore(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

async function rejectionName(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (err: Error) => err.name,
  );
}

/** Every name under dir, hidden ones included, relative and sorted. */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

describe('LocalArtifactStore', () => {
  it('round-trips JSON and lists, checks and removes keys', async () => {
    await store.writeJson('runs/run_a/config.json', { lr: 1e-3, nested: { ok: true } });
    await store.writeJson('runs/run_a/dataset/train.json', [1, 2, 3]);
    expect(await store.readJson('runs/run_a/config.json')).toEqual({ lr: 1e-3, nested: { ok: true } });
    expect(await store.exists('runs/run_a/dataset')).toBe(true);
    expect(await store.exists('runs/run_b')).toBe(false);
    expect(await store.list('runs/run_a')).toEqual(['runs/run_a/config.json', 'runs/run_a/dataset']);
    expect(await store.list('')).toEqual(['runs']);
    expect(await store.list('runs/missing')).toEqual([]);
    await store.remove('runs/run_a/dataset');
    await store.remove('runs/run_a/dataset');
    expect(await store.list('runs/run_a')).toEqual(['runs/run_a/config.json']);
    expect(tree(path.join(root, 'runs/run_a'))).toEqual(['config.json']);
  });

  it('resolves keys inside the root and rejects every escaping key before touching the disk', async () => {
    expect(store.resolve('a/b.json')).toBe(path.join(root, 'a', 'b.json'));
    for (const key of ['../x', '/etc/passwd', 'a/../../x', 'a\0b', 'a\\b', 'a/\uff0e\uff0e/b']) {
      expect(() => store.resolve(key)).toThrow(expect.objectContaining({ name: 'InvalidArtifactKeyError' }));
      expect(await rejectionName(store.writeJson(key, 1))).toBe('InvalidArtifactKeyError');
      expect(await rejectionName(store.readJson(key))).toBe('InvalidArtifactKeyError');
      expect(await rejectionName(store.remove(key))).toBe('InvalidArtifactKeyError');
      expect(await rejectionName(store.copyDir('a', key))).toBe('InvalidArtifactKeyError');
    }
    expect(tree(root)).toEqual([]);
  });

  it('reports missing and corrupt JSON by name, with ENOENT for missing', async () => {
    await expect(store.readJson('nothing.json')).rejects.toMatchObject({ name: 'ArtifactNotFoundError', code: 'ENOENT', key: 'nothing.json' });
    writeFileSync(path.join(root, 'bad.json'), '{"half":');
    await expect(store.readJson('bad.json')).rejects.toMatchObject({ name: 'ArtifactCorruptError', key: 'bad.json' });
  });

  it('replaces a file atomically: a failing stream leaves the old content and no temp file', async () => {
    await store.writeJson('state.json', { version: 1 });
    async function* failingMidway(): AsyncGenerator<string> {
      yield '{"version": 2, "padding": "';
      yield 'x'.repeat(1 << 16);
      throw new Error('producer died');
    }
    await expect(store.writeFile('state.json', failingMidway())).rejects.toThrow('producer died');
    expect(await store.readJson('state.json')).toEqual({ version: 1 });
    expect(tree(root)).toEqual(['state.json']);
  });

  it('leaves no partial file when the writing process is killed mid-write', async () => {
    await store.writeJson('weights.json', { old: true });
    const target = store.resolve('weights.json');
    // A child process streams stdin into the target; we feed it half a document and kill it
    // once its temp file holds bytes, so the kill lands mid-write by construction, not by timing.
    const script = path.join(root, '..', `${path.basename(root)}-writer.ts`);
    await writeFile(
      script,
      `import { atomicWriteFile } from ${JSON.stringify(path.join(repoRoot, 'storage/atomic-write'))};\n` +
        `atomicWriteFile(process.argv[2], process.stdin).then(() => process.stdout.write('finished'));\n`,
    );
    // tsx as a loader (not its CLI, which would run the script in a grandchild we could not kill).
    const tsxLoader = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsxLoader, script, target], { stdio: ['pipe', 'pipe', 'inherit'] });
    let childOutput = '';
    child.stdout.on('data', (chunk: Buffer) => (childOutput += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.stdin.write(`{"new": true, "padding": "${'y'.repeat(4096)}`);
    const oldSize = statSync(target).size;
    const tempWithBytes = (): boolean => readdirSync(root).some((n) => n.startsWith('.tmp-weights.json-') && statSync(path.join(root, n)).size > 0);
    // Also stop waiting if the writer touched the target itself or died: the assertions below then fail.
    const targetTouched = (): boolean => statSync(target, { throwIfNoEntry: false })?.size !== oldSize;
    while (!tempWithBytes() && !targetTouched() && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    rmSync(script);
    expect(childOutput).toBe('');
    expect(JSON.parse(await readFile(target, 'utf8'))).toEqual({ old: true });
    // The killed writer's temp file is still there (nothing renamed it), and invisible to listings.
    expect(readdirSync(root).filter((n) => n.startsWith('.tmp-weights.json-'))).toHaveLength(1);
    expect(await store.list('')).toEqual(['weights.json']);
  });

  it('copies a directory tree whole', async () => {
    await store.writeJson('runs/run_a/sft/config.json', { a: 1 });
    await store.writeFile('runs/run_a/sft/weights.bin', new Uint8Array([1, 2, 3]));
    await store.writeJson('runs/run_a/sft/sub/deep.json', 'deep');
    await store.copyDir('runs/run_a/sft', 'agent-1/v1/policy');
    expect(tree(store.resolve('agent-1/v1/policy'))).toEqual(['config.json', 'sub', 'sub/deep.json', 'weights.bin']);
    expect([...(await readFile(store.resolve('agent-1/v1/policy/weights.bin')))]).toEqual([1, 2, 3]);
    expect(await store.readJson('agent-1/v1/policy/sub/deep.json')).toBe('deep');
    await expect(store.copyDir('runs/run_a/sft', 'agent-1/v1/policy')).rejects.toMatchObject({ name: 'ArtifactExistsError' });
    await expect(store.copyDir('runs/run_a/none', 'agent-1/v2/policy')).rejects.toMatchObject({ name: 'ArtifactNotFoundError' });
  });

  it('copyDir failing midway leaves no destination and no temp directory', async () => {
    await store.writeJson('src/a.json', 1);
    await store.writeJson('src/b.json', 2);
    // Entries are copied in name order, so the symlink is met after a.json and b.json were copied.
    symlinkSync('/etc/hostname', path.join(store.resolve('src'), 'z-link'));
    await mkdir(store.resolve('dst-parent'));
    await expect(store.copyDir('src', 'dst-parent/copy')).rejects.toMatchObject({ name: 'ArtifactCorruptError' });
    expect(readdirSync(store.resolve('dst-parent'))).toEqual([]);
    expect(await store.exists('dst-parent/copy')).toBe(false);
  });
});
