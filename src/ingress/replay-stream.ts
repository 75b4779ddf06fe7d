/**
 * A Duplex over a socket that first replays bytes already read from it.
 * Node cannot peek, and a TLSSocket built on a native socket reads straight
 * from the handle, so the sniffed first chunk would be lost without this.
 */
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

export function replayStream(raw: Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      raw.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      raw.write(chunk, cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  d.push(first);
  raw.on('data', (c: Buffer) => {
    if (!d.push(c)) raw.pause();
  });
  raw.on('end', () => d.push(null));
  raw.on('close', () => d.destroy());
  return d;
}
