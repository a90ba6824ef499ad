/**
 * Base-model directories for a run: only existing model directories inside the configured
 * root are accepted (relative or absolute, symlinks resolved), and a run config adapted to a
 * base takes the checkpoint's shape while keeping its LoRA settings.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { resolveRunConfig } from '../../ml/config';
import { resolveBaseModelDir, runConfigForBase } from '../../ml/hf/base-model';
import { readGpt2Config } from '../../ml/hf/load';
import { FIXTURE_DIR, makeTempDir } from './fixture';

let root: string;
let outside: string;

beforeAll(async () => {
  const scratch = await makeTempDir('base-root');
  root = path.join(scratch, 'models');
  outside = path.join(scratch, 'elsewhere');
  for (const dir of [path.join(root, 'org', 'tiny'), path.join(root, 'empty'), outside]) await fs.mkdir(dir, { recursive: true });
  await fs.copyFile(path.join(FIXTURE_DIR, 'config.json'), path.join(root, 'org', 'tiny', 'config.json'));
  await fs.copyFile(path.join(FIXTURE_DIR, 'config.json'), path.join(outside, 'config.json'));
  await fs.writeFile(path.join(root, 'file'), 'x');
  await fs.symlink(outside, path.join(root, 'link-out'));
  await fs.symlink(path.join(root, 'org', 'tiny'), path.join(root, 'link-in'));
});

afterAll(async () => {
  await fs.rm(path.dirname(root), { recursive: true, force: true });
});

describe('resolveBaseModelDir', () => {
  it('accepts a model directory inside the root, relative or absolute, and returns its real path', async () => {
    const real = await fs.realpath(path.join(root, 'org', 'tiny'));
    expect(await resolveBaseModelDir(root, 'org/tiny')).toBe(real);
    expect(await resolveBaseModelDir(root, path.join(root, 'org', 'tiny'))).toBe(real);
    expect(await resolveBaseModelDir(root, 'org/../org/tiny')).toBe(real);
    expect(await resolveBaseModelDir(root, 'link-in')).toBe(real);
  });

  it.each([
    ['../elsewhere', 'outside_root'],
    ['/etc', 'outside_root'],
    ['link-out', 'outside_root'],
    ['missing', 'not_a_directory'],
    ['file', 'not_a_directory'],
    ['empty', 'not_a_model'],
  ])('refuses %s (%s)', async (requested, reason) => {
    await expect(resolveBaseModelDir(root, requested)).rejects.toMatchObject({ name: 'HfBaseModelDirError', reason, requested });
  });

  it('refuses everything when no root is configured or the root is missing, without naming the root', async () => {
    await expect(resolveBaseModelDir(undefined, 'org/tiny')).rejects.toMatchObject({ reason: 'no_root' });
    const err = await resolveBaseModelDir(path.join(root, 'nope'), 'org/tiny').catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'HfBaseModelDirError', reason: 'no_root' });
    expect((err as Error).message).not.toContain(root);
  });
});

describe('runConfigForBase', () => {
  it("takes the checkpoint's shape, keeps the config's LoRA, gives the reward model the base vocabulary, and leaves the input alone", async () => {
    const hf = await readGpt2Config(FIXTURE_DIR);
    const config = resolveRunConfig('quick');
    const before = structuredClone(config);
    const adapted = runConfigForBase(config, hf);
    expect(config).toEqual(before);
    expect(adapted.policyModel).toEqual({ vocabSize: 400, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0, lora: config.policyModel.lora });
    expect(adapted.reward.model).toEqual({ ...config.reward.model, vocabSize: 400 });
    expect(adapted.ppo).toEqual(config.ppo);
  });
});
