import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bpeTokenizerFromMerges, mergeStrings, MIN_TRAINED_BPE_VOCAB, trainBpeSpec, trainBpeTokenizer, TRAINED_BPE_END_OF_TEXT } from '../../ml/bpe-training';
import { hfTokenizerFiles, readBpeTokenizer } from '../../ml/hf/tokenizer-files';
import { Rng } from '../../ml/rng';
import { makeSupportFeedback } from '../../ml/tasks/support-replies';

const corpus = makeSupportFeedback(300, new Rng(5)).flatMap((r) => [r.prompt, r.response]);

describe('trainBpeSpec', () => {
  it('merges the most frequent pair first (Sennrich et al. 2016, Algorithm 1)', () => {
    // Pieces: "aaaa", " aaaa" ×2, " ab". Pair counts: (a, a) 9, (Ġ, a) 3, (a, b) 1.
    const spec = trainBpeSpec(['aaaa aaaa aaaa ab'], { vocabSize: MIN_TRAINED_BPE_VOCAB + 1 });
    expect(spec.merges[0]).toEqual(['a', 'a']);
    expect(spec.merges).toHaveLength(1);
  });

  it('breaks ties on the pair text, so the merges are a pure function of the texts', () => {
    const a = trainBpeSpec(corpus, { vocabSize: 400 });
    const b = trainBpeSpec([...corpus], { vocabSize: 400 });
    expect(b.merges).toEqual(a.merges);
    expect(trainBpeSpec(['xy ab'], { vocabSize: MIN_TRAINED_BPE_VOCAB + 1, minFrequency: 1 }).merges[0]).toEqual(['a', 'b']);
  });

  it('stops at vocabSize and when no pair is frequent enough', () => {
    const spec = trainBpeSpec(corpus, { vocabSize: 300 });
    expect(spec.vocab.size).toBe(299); // + the end-of-text token = 300 ids
    expect(new Set(spec.vocab.values()).size).toBe(spec.vocab.size);
    const rare = trainBpeSpec(['abc'], { vocabSize: 1000 });
    expect(rare.merges).toHaveLength(0); // every pair occurs once; minFrequency is 2
    expect(() => trainBpeSpec(corpus, { vocabSize: 256 })).toThrow(/vocabSize/);
  });
});

describe('a trained tokenizer', () => {
  const tok = trainBpeTokenizer(corpus, { vocabSize: 512 });

  it('has one end-of-text id for BOS, EOS and pad, after the vocabulary', () => {
    expect(tok.vocabSize).toBeLessThanOrEqual(512);
    expect(tok.bosId).toBe(tok.vocabSize - 1);
    expect(tok.eosId).toBe(tok.bosId);
    expect(tok.padId).toBe(tok.bosId);
    expect(tok.encode(TRAINED_BPE_END_OF_TEXT)).toEqual([tok.eosId]);
  });

  it('round-trips any text, unseen bytes included', () => {
    for (const text of [...corpus.slice(0, 20), 'Zürich 東京 🙂 \u0000 tab\tend', '', '   spaces  ']) expect(tok.decode(tok.encode(text))).toBe(text);
  });

  it('writes words of the feedback as few tokens (at least 3× fewer than bytes)', () => {
    const bytes = corpus.reduce((n, t) => n + Buffer.byteLength(t), 0);
    const tokens = corpus.reduce((n, t) => n + tok.encode(t).length, 0);
    expect(bytes / tokens).toBeGreaterThan(3);
  });

  it('is rebuilt exactly from its merges alone (what a run config stores)', () => {
    const rebuilt = bpeTokenizerFromMerges(mergeStrings(tok));
    expect(rebuilt.vocabSize).toBe(tok.vocabSize);
    expect([...rebuilt.spec.vocab]).toEqual([...tok.spec.vocab]);
    for (const text of corpus.slice(0, 50)) expect(rebuilt.encode(text)).toEqual(tok.encode(text));
  });

  it('refuses merges that are not two known symbols', () => {
    expect(() => bpeTokenizerFromMerges(['ab'])).toThrow(/merge 0/);
    expect(() => bpeTokenizerFromMerges(['a b', 'ab cd'])).toThrow(/merge 1.*no earlier merge/);
  });

  it('saves as Hugging Face tokenizer files that load back to the same ids', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bpe-trained-'));
    try {
      for (const [file, content] of Object.entries(hfTokenizerFiles(tok, 64))) await fs.writeFile(path.join(dir, file), content);
      for (const source of ['tokenizer.json', 'vocab+merges'] as const) {
        const loaded = await readBpeTokenizer(dir, source);
        expect(loaded.eosId).toBe(tok.eosId);
        for (const text of corpus.slice(0, 30)) expect(loaded.encode(text)).toEqual(tok.encode(text));
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
