/**
 * Reading and writing a Hugging Face GPT-2 tokenizer's files:
 *  - `tokenizer.json` (HF tokenizers' serialisation: a BPE model with a ByteLevel pre-tokenizer), or
 *  - `vocab.json` + `merges.txt` (the files GPT2Tokenizer reads; merges start with `#version`),
 *  - plus `tokenizer_config.json` / `special_tokens_map.json` for which tokens are bos/eos/pad and
 *    `added_tokens.json` for tokens added after training.
 * When nothing names bos/eos, GPT2Tokenizer's own default `<|endoftext|>` is used; it must
 * still be in the directory's vocabulary.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BpeTokenizer, type AddedToken, type BpeTokenizerSpec } from './bpe-tokenizer';
import { HfFormatError, HfMissingFileError } from '../../spec/hf-errors';
import { HfTokenizerFiles, readJsonFile } from '../../spec/hf-files';

/** GPT2Tokenizer's default bos/eos/unk token (transformers `tokenization_gpt2.py`). */
const GPT2_DEFAULT_SPECIAL = '<|endoftext|>';

export type TokenizerSource = 'auto' | 'tokenizer.json' | 'vocab+merges';

const exists = async (file: string): Promise<boolean> =>
  fs.access(file).then(
    () => true,
    () => false,
  );

async function readOptionalJson(file: string): Promise<Record<string, unknown>> {
  return (await exists(file)) ? ((await readJsonFile(file)) as Record<string, unknown>) : {};
}

/** A special-token entry is a string, or `{ content: string, ... }` (AddedToken serialised). */
function tokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

interface SpecialNames {
  bos: string;
  eos: string;
  pad: string | null;
  /** Every named special token (bos, eos, unk, pad, additional), split out of text like added tokens. */
  all: string[];
  addPrefixSpace: boolean;
}

async function readSpecialNames(dir: string): Promise<SpecialNames> {
  const config = await readOptionalJson(path.join(dir, HfTokenizerFiles.config));
  const map = await readOptionalJson(path.join(dir, HfTokenizerFiles.specialTokensMap));
  const pick = (key: string): string | null => tokenContent(config[key]) ?? tokenContent(map[key]);
  const bos = pick('bos_token') ?? GPT2_DEFAULT_SPECIAL;
  const eos = pick('eos_token') ?? GPT2_DEFAULT_SPECIAL;
  const pad = pick('pad_token');
  const unk = pick('unk_token');
  const extra = [config.additional_special_tokens, map.additional_special_tokens]
    .filter(Array.isArray)
    .flat()
    .map(tokenContent)
    .filter((t): t is string => t !== null);
  const all = [...new Set([bos, eos, ...(pad === null ? [] : [pad]), ...(unk === null ? [] : [unk]), ...extra])];
  return { bos, eos, pad, all, addPrefixSpace: config.add_prefix_space === true };
}

function parseMerge(raw: unknown, file: string, index: number): [string, string] {
  if (Array.isArray(raw) && raw.length === 2 && raw.every((s) => typeof s === 'string')) return [raw[0], raw[1]];
  if (typeof raw === 'string') {
    const parts = raw.split(' ');
    if (parts.length === 2) return [parts[0], parts[1]];
  }
  throw new HfFormatError(`${file}: merge ${index} (${JSON.stringify(raw)}) is not a pair of tokens`, file);
}

function parseVocab(raw: unknown, file: string): Map<string, number> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HfFormatError(`${file}: vocabulary is not a JSON object`, file);
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(raw)) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new HfFormatError(`${file}: token '${token}' has invalid id ${String(id)}`, file);
    vocab.set(token, id as number);
  }
  return vocab;
}

/** Named specials that are only in the vocabulary still get split out of text (as GPT2Tokenizer does). */
function withNamedSpecials(added: AddedToken[], names: SpecialNames, vocab: ReadonlyMap<string, number>): AddedToken[] {
  const out = [...added];
  for (const content of names.all) {
    const id = vocab.get(content);
    if (id !== undefined && !out.some((t) => t.content === content)) out.push({ id, content, special: true });
  }
  return out;
}

async function fromTokenizerJson(dir: string, names: SpecialNames): Promise<BpeTokenizerSpec> {
  const file = path.join(dir, HfTokenizerFiles.tokenizerJson);
  const json = (await readJsonFile(file)) as Record<string, unknown>;
  const model = json.model as Record<string, unknown> | undefined;
  if (model?.type !== 'BPE') throw new HfFormatError(`${file}: model type '${String(model?.type)}' is not BPE`, file);
  if (json.normalizer !== null && json.normalizer !== undefined) {
    throw new HfFormatError(`${file}: a normalizer is not supported (GPT-2 has none)`, file);
  }
  const pre = json.pre_tokenizer as Record<string, unknown> | null | undefined;
  if (pre?.type !== 'ByteLevel' || pre.use_regex === false) {
    throw new HfFormatError(`${file}: pre_tokenizer must be ByteLevel with use_regex (GPT-2's), got ${JSON.stringify(pre)}`, file);
  }
  if (!Array.isArray(model.merges)) throw new HfFormatError(`${file}: model.merges is not a list`, file);
  const vocab = parseVocab(model.vocab, file);
  const rawAdded = Array.isArray(json.added_tokens) ? (json.added_tokens as Record<string, unknown>[]) : [];
  const added = rawAdded.map((t) => ({ id: Number(t.id), content: String(t.content), special: t.special === true }));
  return {
    vocab,
    merges: model.merges.map((m, i) => parseMerge(m, file, i)),
    addedTokens: withNamedSpecials(added, names, vocab),
    bosToken: names.bos,
    eosToken: names.eos,
    padToken: names.pad,
    addPrefixSpace: pre.add_prefix_space === true,
    source: file,
  };
}

async function fromVocabMerges(dir: string, names: SpecialNames): Promise<BpeTokenizerSpec> {
  const vocabFile = path.join(dir, HfTokenizerFiles.vocab);
  const mergesFile = path.join(dir, HfTokenizerFiles.merges);
  const vocab = parseVocab(await readJsonFile(vocabFile), vocabFile);
  let mergesText: string;
  try {
    mergesText = await fs.readFile(mergesFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HfMissingFileError(`${mergesFile} does not exist`, mergesFile);
    throw err;
  }
  const lines = mergesText.split('\n').filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
  const config = await readOptionalJson(path.join(dir, HfTokenizerFiles.config));
  const decoderEntries = Object.entries((config.added_tokens_decoder ?? {}) as Record<string, Record<string, unknown>>);
  const added: AddedToken[] = decoderEntries.map(([id, t]) => ({ id: Number(id), content: String(t.content), special: t.special === true }));
  const addedJson = await readOptionalJson(path.join(dir, HfTokenizerFiles.addedTokens));
  for (const [content, id] of Object.entries(addedJson)) {
    if (!added.some((t) => t.content === content)) added.push({ id: Number(id), content, special: names.all.includes(content) });
  }
  return {
    vocab,
    merges: lines.map((l, i) => parseMerge(l, mergesFile, i)),
    addedTokens: withNamedSpecials(added, names, vocab),
    bosToken: names.bos,
    eosToken: names.eos,
    padToken: names.pad,
    addPrefixSpace: names.addPrefixSpace,
    source: vocabFile,
  };
}

/**
 * Reads the tokenizer of a Hugging Face directory. 'auto' prefers tokenizer.json and falls
 * back to vocab.json + merges.txt.
 */
export async function readBpeTokenizer(dir: string, source: TokenizerSource = 'auto'): Promise<BpeTokenizer> {
  const names = await readSpecialNames(dir);
  const hasJson = await exists(path.join(dir, HfTokenizerFiles.tokenizerJson));
  if (source === 'tokenizer.json' || (source === 'auto' && hasJson)) return new BpeTokenizer(await fromTokenizerJson(dir, names));
  if (source === 'auto' && !(await exists(path.join(dir, HfTokenizerFiles.vocab)))) {
    throw new HfMissingFileError(
      `${dir} has no tokenizer: neither ${HfTokenizerFiles.tokenizerJson} nor ${HfTokenizerFiles.vocab} + ${HfTokenizerFiles.merges}`,
      path.join(dir, HfTokenizerFiles.tokenizerJson),
    );
  }
  return new BpeTokenizer(await fromVocabMerges(dir, names));
}

/** Vocabulary entries sorted by id (the order HF writes them). */
function vocabObject(vocab: ReadonlyMap<string, number>): Record<string, number> {
  return Object.fromEntries([...vocab].sort((a, b) => a[1] - b[1]));
}

/**
 * The tokenizer files of a GPT-2 directory, as file name → content: tokenizer.json for fast
 * tokenizers, vocab.json + merges.txt for GPT2Tokenizer, and the special-token configs.
 * `modelMaxLength` is the model's n_positions.
 */
export function hfTokenizerFiles(tok: BpeTokenizer, modelMaxLength: number): Record<string, string> {
  const { spec } = tok;
  const bos = spec.bosToken;
  const eos = spec.eosToken;
  const byteLevel = { add_prefix_space: spec.addPrefixSpace, trim_offsets: true, use_regex: true };
  const addedFlags = (t: AddedToken) => ({ content: t.content, single_word: false, lstrip: false, rstrip: false, normalized: !t.special, special: t.special });
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: spec.addedTokens.map((t) => ({ id: t.id, ...addedFlags(t) })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel, trim_offsets: false },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: vocabObject(spec.vocab),
      // "a b" strings (the format every tokenizers version reads; pairs need >= 0.20).
      merges: spec.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  // GPT-2 uses its eos as unk too (transformers GPT2Tokenizer defaults).
  const specials: Record<string, string> = { bos_token: bos, eos_token: eos, unk_token: eos };
  if (spec.padToken !== null) specials.pad_token = spec.padToken;
  const tokenizerConfig = {
    tokenizer_class: 'GPT2Tokenizer',
    add_prefix_space: spec.addPrefixSpace,
    model_max_length: modelMaxLength,
    ...specials,
    added_tokens_decoder: Object.fromEntries(spec.addedTokens.map((t) => [String(t.id), addedFlags(t)])),
  };
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  return {
    [HfTokenizerFiles.tokenizerJson]: json(tokenizerJson),
    [HfTokenizerFiles.vocab]: JSON.stringify(vocabObject(spec.vocab)) + '\n',
    [HfTokenizerFiles.merges]: '#version: 0.2\n' + spec.merges.map(([a, b]) => `${a} ${b}`).join('\n') + '\n',
    [HfTokenizerFiles.config]: json(tokenizerConfig),
    [HfTokenizerFiles.specialTokensMap]: json(specials),
  };
}
