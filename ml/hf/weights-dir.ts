/**
 * The weights of a Hugging Face model directory: either one `model.safetensors`, or shards
 * listed by `model.safetensors.index.json` (`{ metadata, weight_map: { tensor: shard file } }`,
 * as transformers' `save_pretrained(max_shard_size=...)` writes). Each shard is opened once
 * and read tensor by tensor.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { HfFormatError, HfMissingFileError } from '../../spec/hf-errors';
import { HfWeightFiles } from '../../spec/hf-files';
import { SafetensorsReader, type SafetensorsEntry } from './safetensors';

export interface LocatedEntry extends SafetensorsEntry {
  /** The safetensors file that holds this tensor. */
  file: string;
}

const exists = async (file: string): Promise<boolean> =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/** Every tensor of a directory's safetensors weights, by name. Call `close()` when done. */
export class SafetensorsWeights {
  private constructor(
    /** The file that describes the weights: model.safetensors, or the index when sharded (for error messages). */
    readonly source: string,
    private readonly readers: SafetensorsReader[],
    private readonly byName: Map<string, SafetensorsReader>,
  ) {}

  /** Opens `dir/model.safetensors`, or every shard named by `dir/model.safetensors.index.json`. */
  static async open(dir: string): Promise<SafetensorsWeights> {
    const indexFile = path.join(dir, HfWeightFiles.index);
    if (await exists(indexFile)) return SafetensorsWeights.openSharded(dir, indexFile);
    const single = path.join(dir, HfWeightFiles.single);
    if (!(await exists(single))) {
      throw new HfMissingFileError(`${dir} has neither ${HfWeightFiles.single} nor ${HfWeightFiles.index}`, single);
    }
    const reader = await SafetensorsReader.open(single);
    return new SafetensorsWeights(single, [reader], new Map(reader.names().map((n) => [n, reader])));
  }

  private static async openSharded(dir: string, indexFile: string): Promise<SafetensorsWeights> {
    let weightMap: Record<string, unknown>;
    try {
      const parsed = JSON.parse(await fs.readFile(indexFile, 'utf8')) as { weight_map?: unknown };
      if (typeof parsed.weight_map !== 'object' || parsed.weight_map === null) throw new Error('no weight_map');
      weightMap = parsed.weight_map as Record<string, unknown>;
    } catch (err) {
      throw new HfFormatError(`${indexFile} is not a valid safetensors index: ${(err as Error).message}`, indexFile);
    }
    const readers = new Map<string, SafetensorsReader>();
    const byName = new Map<string, SafetensorsReader>();
    try {
      for (const [tensor, shard] of Object.entries(weightMap)) {
        if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) {
          throw new HfFormatError(`${indexFile}: tensor '${tensor}' maps to '${String(shard)}', not a file name in ${dir}`, indexFile, tensor);
        }
        const shardFile = path.join(dir, shard);
        let reader = readers.get(shardFile);
        if (reader === undefined) {
          if (!(await exists(shardFile))) {
            throw new HfMissingFileError(`${shardFile}, the shard ${indexFile} names for tensor '${tensor}', does not exist`, shardFile, tensor);
          }
          reader = await SafetensorsReader.open(shardFile);
          readers.set(shardFile, reader);
        }
        if (reader.entry(tensor) === undefined) {
          throw new HfFormatError(`${indexFile} puts tensor '${tensor}' in ${shardFile}, which does not hold it`, shardFile, tensor);
        }
        byName.set(tensor, reader);
      }
    } catch (err) {
      await Promise.all([...readers.values()].map((r) => r.close()));
      throw err;
    }
    return new SafetensorsWeights(indexFile, [...readers.values()], byName);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  entry(name: string): LocatedEntry | undefined {
    const reader = this.byName.get(name);
    const e = reader?.entry(name);
    return reader === undefined || e === undefined ? undefined : { ...e, file: reader.file };
  }

  /** Reads one tensor as float32; throws HfFormatError when no file holds it. */
  async readF32(name: string): Promise<Float32Array> {
    const reader = this.byName.get(name);
    if (reader === undefined) throw new HfFormatError(`no safetensors file here holds tensor '${name}'`, '(weights)', name);
    return reader.readF32(name);
  }

  async close(): Promise<void> {
    await Promise.all(this.readers.map((r) => r.close()));
  }
}
