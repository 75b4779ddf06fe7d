/**
 * Mutations of valid encodings: bit flips, byte edits, truncation, splicing
 * of two inputs, length-like fields set to edge values, repeated slices and
 * random bytes. Each returns a new buffer; inputs are never modified.
 */
import type { Rng } from './rng.js';

/** Values that break length and count fields: zero, one, boundaries of u8/u16/u32, all ones. */
const EDGE_U8 = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const EDGE_U16 = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const EDGE_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0x10001];
/** Bytes with a meaning in our text protocols. */
const MAGIC_BYTES = [0x00, 0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x3b, 0x2d, 0x2c, 0x7f, 0x80, 0xff, 0x05, 0x04, 0x01];
const MAGIC_TEXT = ['\r\n', '\r\n\r\n', '\n', '\r', ' ', ':', ';', ',', '-', '0', 'ffffffffffff', '99999999999999999', '\x00', 'chunked', 'Content-Length: 5', 'Transfer-Encoding: chunked', '%00', '\t', '::', '[', ']', 'HTTP/1.1'];

export type Mutator = (input: Buffer, rng: Rng, other: Buffer) => Buffer;

const flipBit: Mutator = (b, rng) => {
  if (b.length === 0) return rng.bytes(1);
  const out = Buffer.from(b);
  const i = rng.int(out.length);
  out[i] = out[i]! ^ (1 << rng.int(8));
  return out;
};

const setByte: Mutator = (b, rng) => {
  if (b.length === 0) return Buffer.from([rng.pick(MAGIC_BYTES)]);
  const out = Buffer.from(b);
  out[rng.int(out.length)] = rng.chance(0.5) ? rng.pick(MAGIC_BYTES) : rng.int(256);
  return out;
};

const truncate: Mutator = (b, rng) => b.subarray(0, rng.int(b.length + 1));

const dropSlice: Mutator = (b, rng) => {
  const i = rng.int(b.length + 1);
  const j = i + rng.int(Math.min(16, b.length - i) + 1);
  return Buffer.concat([b.subarray(0, i), b.subarray(j)]);
};

const insertBytes: Mutator = (b, rng) => {
  const i = rng.int(b.length + 1);
  const ins = rng.chance(0.5) ? Buffer.from(rng.pick(MAGIC_TEXT), 'latin1') : rng.bytes(rng.range(1, 8));
  return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
};

const splice: Mutator = (b, rng, other) => {
  const i = rng.int(b.length + 1);
  const j = rng.int(other.length + 1);
  return Buffer.concat([b.subarray(0, i), other.subarray(j)]);
};

const edgeLength: Mutator = (b, rng) => {
  if (b.length === 0) return Buffer.from([0xff]);
  const out = Buffer.from(b);
  const width = rng.pick([1, 2, 4]);
  if (out.length < width) return setByte(b, rng, b);
  const i = rng.int(out.length - width + 1);
  if (width === 1) out[i] = rng.pick(EDGE_U8);
  else if (width === 2) out.writeUInt16BE(rng.pick(EDGE_U16), i);
  else out.writeUInt32BE(rng.pick(EDGE_U32), i);
  return out;
};

const repeatSlice: Mutator = (b, rng) => {
  if (b.length === 0) return b;
  const i = rng.int(b.length);
  const len = rng.range(1, Math.min(64, b.length - i));
  const times = rng.pick([2, 3, 16, 200]);
  const slice = b.subarray(i, i + len);
  const parts: Buffer[] = [b.subarray(0, i)];
  for (let k = 0; k < times; k++) parts.push(slice);
  parts.push(b.subarray(i + len));
  return Buffer.concat(parts);
};

const hugeRun: Mutator = (b, rng) => {
  const i = rng.int(b.length + 1);
  const run = Buffer.alloc(rng.pick([256, 1024, 9000, 70_000]), rng.pick([0x41, 0x30, 0x66, 0x00, 0x20, 0xff]));
  return Buffer.concat([b.subarray(0, i), run, b.subarray(i)]);
};

const randomBytes: Mutator = (_b, rng) => rng.bytes(rng.int(64));

const appendGarbage: Mutator = (b, rng) => Buffer.concat([b, rng.bytes(rng.range(1, 32))]);

const MUTATORS: ReadonlyArray<readonly [Mutator, number]> = [
  [flipBit, 6],
  [setByte, 6],
  [truncate, 4],
  [dropSlice, 3],
  [insertBytes, 5],
  [splice, 3],
  [edgeLength, 5],
  [repeatSlice, 2],
  [hugeRun, 1],
  [randomBytes, 1],
  [appendGarbage, 2],
];
const TOTAL_WEIGHT = MUTATORS.reduce((s, [, w]) => s + w, 0);

/** One to four stacked mutations of `input`. */
export function mutate(input: Buffer, rng: Rng, other: Buffer): Buffer {
  let out = input;
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    let x = rng.int(TOTAL_WEIGHT);
    for (const [m, w] of MUTATORS) {
      if (x < w) {
        out = m(out, rng, other);
        break;
      }
      x -= w;
    }
  }
  return out;
}

/** Cut points splitting `length` bytes into 1..n pieces, sorted, without 0 or length. */
export function randomCuts(length: number, rng: Rng, max = 8): number[] {
  const cuts = new Set<number>();
  const n = rng.int(Math.min(max, length));
  for (let i = 0; i < n; i++) cuts.add(rng.range(1, length - 1));
  return [...cuts].filter((c) => c > 0 && c < length).sort((a, b) => a - b);
}
