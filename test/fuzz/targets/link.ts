/** Link frames (src/protocol/link/codec.ts): every type, DATAGRAM's address included. */
import {
  HEADER_BYTES,
  MAX_DATAGRAM_PAYLOAD,
  dataHeader,
  datagramFrame,
  finFrame,
  goawayFrame,
  openFrame,
  openOkFrame,
  parseFrame,
  pingFrame,
  rstFrame,
  windowFrame,
  type Frame,
} from '../../../src/protocol/link/codec.js';
import { checkParse } from '../properties.js';
import { gen, type FuzzTarget } from '../target.js';
import type { Rng } from '../rng.js';

const stream = (rng: Rng): number => rng.range(1, 0xffffffff);

function props(rng: Rng): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = rng.int(4); i > 0; i--) out[gen.label(rng)] = gen.text(rng, 30);
  return out;
}

function address(rng: Rng): { host: string; port: number } {
  const host = rng.pick([gen.ipv4(rng), gen.domain(rng), '::1', `2001:db8::${rng.int(0xffff).toString(16)}`]);
  return { host, port: gen.port(rng) };
}

function linkFrame(rng: Rng): Buffer {
  switch (rng.int(9)) {
    case 0:
      return openFrame(stream(rng), { ...props(rng), host: gen.domain(rng), port: gen.port(rng), window: rng.range(1, 0x7fffffff), ...(rng.chance(0.5) ? { kind: 'udp' } : {}) });
    case 1:
      return openOkFrame(stream(rng), props(rng));
    case 2: {
      const data = rng.bytes(rng.int(100));
      return Buffer.concat([dataHeader(stream(rng), data.length), data]);
    }
    case 3:
      return windowFrame(stream(rng), rng.range(1, 0x7fffffff));
    case 4:
      return finFrame(stream(rng));
    case 5:
      return rstFrame(stream(rng), props(rng));
    case 6:
      return pingFrame(rng.chance(0.5), rng.bytes(8));
    case 7:
      return goawayFrame(rng.u32(), props(rng));
    default:
      return datagramFrame(stream(rng), address(rng), rng.bytes(rng.int(200)));
  }
}

/** A parsed frame encoded again with the codec's own encoders. */
function encode(f: Frame): Buffer {
  const p = (m: ReadonlyMap<string, string>): Record<string, string> => Object.fromEntries(m);
  switch (f.type) {
    case 'open':
      return openFrame(f.stream, p(f.props));
    case 'open-ok':
      return openOkFrame(f.stream, p(f.props));
    case 'data':
      return Buffer.concat([dataHeader(f.stream, f.data.length), f.data]);
    case 'window':
      return windowFrame(f.stream, f.increment);
    case 'fin':
      return finFrame(f.stream);
    case 'rst':
      return rstFrame(f.stream, p(f.props));
    case 'ping':
      return pingFrame(f.ack, f.opaque);
    case 'goaway':
      return goawayFrame(f.lastStream, p(f.props));
    case 'datagram':
      return datagramFrame(f.stream, f.address, f.data);
  }
}

export const linkFrames: FuzzTarget = {
  name: 'link-frame',
  generate: linkFrame,
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parseFrame,
        incremental: true,
        maxPending: HEADER_BYTES + MAX_DATAGRAM_PAYLOAD,
        // A PING's flag byte other than 1 reads as "not an ack" and encodes as 0; a domain holding an IP literal reads as that IP.
        encode: (f) => (f.type === 'ping' && f.ack === false ? undefined : encode(f)),
      },
      input,
    );
  },
};
