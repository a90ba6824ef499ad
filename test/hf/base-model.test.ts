/**
 * Base-model directories for a run: only existing model directories inside the configured
 * root are accepted (relative or absolute, symlinks resolved), and a run config adapted to a
 * base takes the checkpoint's shape for the policy and the reward model, with LoRA on both.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { resolveRunConfig } from '../../spec/run-config';
import { resolveBaseModelDir, runConfigForBase } from '../../spec/base-model';
import { DEFAULT_HF_LORA, readGpt2Config } from '../../spec/hf-model-config';
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
  const baseShape = { vocabSize: 400, blockSize: 64, nLayer: 2, nHead: 4, nEmbd: 64, dropout: 0 };

  it("gives the policy and the reward model the checkpoint's shape with LoRA, and leaves the input alone", async () => {
    const hf = await readGpt2Config(FIXTURE_DIR);
    const config = resolveRunConfig('quick');
    const before = structuredClone(config);
    const adapted = runConfigForBase(config, hf);
    expect(config).toEqual(before);
    expect(adapted.policyModel).toEqual({ ...baseShape, lora: config.policyModel.lora });
    // The quick preset's reward trunk has no adapters (rank 0): the documented default is used.
    expect(config.reward.model.lora.rank).toBe(0);
    expect(config.reward.trainable).toBe('full');
    expect(adapted.reward.model).toEqual({ ...baseShape, lora: DEFAULT_HF_LORA });
    expect(adapted.reward.trainable).toBe('lora');
    // No LM loss on a pretrained base (it regularises trunks trained from scratch); the base's own tokenizer.
    expect(config.reward.languageModelWeight).toBe(1);
    expect(adapted.reward.languageModelWeight).toBe(0);
    expect(adapted.tokenizer).toEqual({ kind: 'base' });
    expect({ ...adapted.reward, model: null, trainable: null, languageModelWeight: null }).toEqual({ ...config.reward, model: null, trainable: null, languageModelWeight: null });
    expect(adapted.ppo).toEqual(config.ppo);
  });

  it("keeps the reward model's own LoRA settings when its rank is above 0", async () => {
    const hf = await readGpt2Config(FIXTURE_DIR);
    const config = resolveRunConfig('quick');
    config.reward.model.lora = { rank: 2, alpha: 8, dropout: 0 };
    const adapted = runConfigForBase(config, hf);
    expect(adapted.reward.model).toEqual({ ...baseShape, lora: { rank: 2, alpha: 8, dropout: 0 } });
    expect(adapted.reward.model.lora).not.toBe(config.reward.model.lora);
  });
});
