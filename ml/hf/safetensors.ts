/**
 * The safetensors file format (huggingface/safetensors, docs "Format"): an 8-byte little-endian
 * u64 N, then N bytes of UTF-8 JSON header (padded with spaces), then the raw tensor bytes.
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }`, offsets
 * relative to the first byte after the header, plus an optional `__metadata__` string map.
 *
 * The reader keeps a file handle open and reads one tensor at a time at its offsets, so a
 * multi-gigabyte checkpoint is never held whole in memory, let alone in a JS string. F32 is
 * read straight into the result's buffer; F16 and BF16 are widened to F32. Other dtypes are
 * listed (so the header validates) but reading them throws HfUnsupportedDtypeError.
 */
import { promises as fs } from 'node:fs';
import { atomicWriteFile } from '../../storage/atomic-write';
import * as os from 'node:os';
import { HfFormatError, HfMissingFileError, HfUnsupportedDtypeError } from '../../spec/hf-errors';

/** Bytes per element of every dtype the format defines (safetensors `Dtype`). */
export const SafetensorsDtypeBytes = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;
export type SafetensorsDtype = keyof typeof SafetensorsDtypeBytes;

/** The dtypes `readF32` converts. */
export const READABLE_DTYPES = ['F32', 'F16', 'BF16'] as const satisfies readonly SafetensorsDtype[];

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section; end is exclusive. */
  begin: number;
  end: number;
}

export interface TensorToWrite {
  name: string;
  shape: readonly number[];
  data: Float32Array;
}

/** The reference implementation rejects headers above 100 MB; so do we (guards against a garbage length). */
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

const isDtype = (s: unknown): s is SafetensorsDtype => typeof s === 'string' && Object.hasOwn(SafetensorsDtypeBytes, s);
const elementCount = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Reads exactly `length` bytes at `position` into `target` (fs reads may return short). */
async function readFully(handle: fs.FileHandle, target: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) throw new HfFormatError(`${file}: unexpected end of file at byte ${position + done}`, file);
    done += bytesRead;
  }
}

/** IEEE 754 binary16 bits → float32 value. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function checkEntry(name: string, raw: unknown, file: string, dataBytes: number): SafetensorsEntry {
  const fail = (why: string): never => {
    throw new HfFormatError(`${file}: header entry for tensor '${name}' ${why}`, file, name);
  };
  if (typeof raw !== 'object' || raw === null) return fail('is not an object');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') return fail('has no dtype');
  if (!isDtype(dtype)) {
    throw new HfUnsupportedDtypeError(`${file}: tensor '${name}' has unknown dtype '${dtype}'`, file, name, dtype);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) return fail('has an invalid shape');
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
    return fail('has invalid data_offsets');
  }
  const [begin, end] = offsets as [number, number];
  const expectedBytes = elementCount(shape as number[]) * SafetensorsDtypeBytes[dtype];
  if (end - begin !== expectedBytes) return fail(`spans ${end - begin} bytes; shape [${shape.join(', ')}] × ${dtype} needs ${expectedBytes}`);
  if (end > dataBytes) return fail(`ends at data byte ${end}, past the file's ${dataBytes} data bytes`);
  return { name, dtype, shape: shape as number[], begin, end };
}

/** An open safetensors file. Call `close()` when done. */
export class SafetensorsReader {
  private constructor(
    readonly file: string,
    private readonly handle: fs.FileHandle,
    /** Absolute file offset of the data section. */
    private readonly dataStart: number,
    private readonly entries: Map<string, SafetensorsEntry>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Opens `file` and validates its header (sizes and offsets of every tensor). */
  static async open(file: string): Promise<SafetensorsReader> {
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new HfMissingFileError(`${file} does not exist`, file);
      throw err;
    }
    try {
      return await SafetensorsReader.parse(file, handle);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  private static async parse(file: string, handle: fs.FileHandle): Promise<SafetensorsReader> {
    const fileBytes = (await handle.stat()).size;
    if (fileBytes < 8) throw new HfFormatError(`${file}: ${fileBytes} bytes is too short for a safetensors header`, file);
    const lengthBytes = new Uint8Array(8);
    await readFully(handle, lengthBytes, 0, file);
    const headerBytes = Number(Buffer.from(lengthBytes).readBigUInt64LE(0));
    if (headerBytes > MAX_HEADER_BYTES || 8 + headerBytes > fileBytes) {
      throw new HfFormatError(`${file}: header length ${headerBytes} does not fit in a ${fileBytes}-byte file`, file);
    }
    const headerBuf = new Uint8Array(headerBytes);
    await readFully(handle, headerBuf, 8, file);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
    } catch {
      throw new HfFormatError(`${file}: header is not valid UTF-8 JSON`, file);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) {
      throw new HfFormatError(`${file}: header is not a JSON object`, file);
    }
    const dataStart = 8 + headerBytes;
    const entries = new Map<string, SafetensorsEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        metadata = { ...(raw as Record<string, string>) };
        continue;
      }
      entries.set(name, checkEntry(name, raw, file, fileBytes - dataStart));
    }
    return new SafetensorsReader(file, handle, dataStart, entries, metadata);
  }

  /** Tensor names in header order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  entry(name: string): SafetensorsEntry | undefined {
    return this.entries.get(name);
  }

  /** Reads one tensor as float32 (row-major, in `entry(name).shape`). F16/BF16 are widened exactly. */
  async readF32(name: string): Promise<Float32Array> {
    const e = this.entries.get(name);
    if (e === undefined) throw new HfFormatError(`${this.file} has no tensor '${name}'`, this.file, name);
    const n = elementCount(e.shape);
    const position = this.dataStart + e.begin;
    switch (e.dtype) {
      case 'F32': {
        const out = new Float32Array(n);
        const bytes = new Uint8Array(out.buffer);
        await readFully(this.handle, bytes, position, this.file);
        if (!LITTLE_ENDIAN_HOST) Buffer.from(out.buffer).swap32();
        return out;
      }
      case 'F16':
      case 'BF16': {
        const raw = Buffer.alloc(2 * n);
        await readFully(this.handle, raw, position, this.file);
        const out = new Float32Array(n);
        if (e.dtype === 'F16') {
          for (let i = 0; i < n; i++) out[i] = halfToFloat(raw.readUInt16LE(2 * i));
        } else {
          // bfloat16 is the top half of a float32 (Kalamkar et al. 2019): shift the bits up.
          const bits = new Uint32Array(out.buffer);
          for (let i = 0; i < n; i++) bits[i] = raw.readUInt16LE(2 * i) << 16;
          if (!LITTLE_ENDIAN_HOST) Buffer.from(out.buffer).swap32();
        }
        return out;
      }
      default:
        throw new HfUnsupportedDtypeError(
          `${this.file}: tensor '${name}' has dtype ${e.dtype}; only ${READABLE_DTYPES.join(', ')} are supported`,
          this.file,
          name,
          e.dtype,
        );
    }
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** The JSON header for `tensors` laid out in order as F32, padded with spaces to a multiple of 8 bytes. */
function headerFor(tensors: readonly TensorToWrite[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.length * 4;
    header[t.name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // 8-byte alignment of the data section, as the reference writer does.
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return padded;
}

/**
 * Writes `tensors` as F32 to `file` (storage/atomic-write.ts: a synced temporary and a rename,
 * so a crash never leaves a half-written file under the final name). Every tensor's data length must match its shape.
 */
export async function writeSafetensors(file: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Promise<void> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new HfFormatError(`${file}: tensor '${t.name}' given twice`, file, t.name);
    seen.add(t.name);
    if (elementCount(t.shape) !== t.data.length) {
      throw new HfFormatError(`${file}: tensor '${t.name}' has ${t.data.length} values for shape [${t.shape.join(', ')}]`, file, t.name);
    }
  }
  const header = headerFor(tensors, metadata);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.length));
  async function* chunks(): AsyncGenerator<Uint8Array> {
    yield length;
    yield header;
    for (const t of tensors) {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      yield LITTLE_ENDIAN_HOST ? bytes : Buffer.from(bytes).swap32();
    }
  }
  await atomicWriteFile(file, chunks());
}
