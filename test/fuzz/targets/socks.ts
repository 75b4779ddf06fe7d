/** SOCKS4/4a, SOCKS5 (greeting, RFC 1929 auth, request, reply, UDP header) and UDP-in-TCP framing. */
import { parseSocks4Request, splitSocks4Userid } from '../../../src/protocol/socks4/codec.js';
import {
  encodeReply,
  encodeRequest,
  encodeUserPass,
  parseGreeting,
  parseReply,
  parseRequest,
  parseUserPass,
} from '../../../src/protocol/socks5/codec.js';
import { encodeUdpDatagram, parseUdpDatagram } from '../../../src/protocol/socks5/udp-header.js';
import { encodeFrame, FrameScanner, MAX_FRAME } from '../../../src/protocol/socks5/udp-in-tcp.js';
import { checkParse, inputRng, timed, violation } from '../properties.js';
import { randomCuts } from '../mutate.js';
import { gen, type FuzzTarget } from '../target.js';
import type { Rng } from '../rng.js';

/** Text decoded from bytes must encode back to exactly those bytes, or two secrets would compare equal. */
function lossless(what: string, text: string, bytes: Buffer, encoding: BufferEncoding): void {
  if (!Buffer.from(text, encoding).equals(bytes)) violation('lossless-text', `${what}: ${bytes.toString('hex')} decodes to text that encodes differently`);
}

function socks5Address(rng: Rng): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(gen.port(rng));
  switch (rng.int(4)) {
    case 0:
      return Buffer.concat([Buffer.from([1]), rng.bytes(4), port]);
    case 1:
      return Buffer.concat([Buffer.from([4]), gen.ipv6Bytes(rng), port]);
    case 2: {
      const name = Buffer.from(rng.chance(0.2) ? gen.ipv4(rng) : gen.domain(rng), 'latin1');
      return Buffer.concat([Buffer.from([3, name.length]), name, port]);
    }
    default:
      return Buffer.concat([Buffer.from([rng.pick([0, 2, 5, 0xff])]), rng.bytes(6)]);
  }
}

export const socks4Request: FuzzTarget = {
  name: 'socks4.request',
  generate(rng) {
    const head = Buffer.alloc(8);
    head[0] = 4;
    head[1] = rng.pick([1, 2, 0, 0x5a]);
    head.writeUInt16BE(gen.port(rng), 2);
    const socks4a = rng.chance(0.5);
    if (socks4a) head[7] = rng.range(1, 255);
    else rng.bytes(4).copy(head, 4);
    const userid = Buffer.from(rng.chance(0.5) ? `${gen.label(rng)}:${gen.text(rng, 20).replace(/\x00/g, '')}` : gen.text(rng, 30), 'utf8');
    const parts = [head, userid, Buffer.from([0])];
    if (socks4a) parts.push(Buffer.from(gen.domain(rng), 'latin1'), Buffer.from([0]));
    return Buffer.concat(parts);
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parseSocks4Request,
        incremental: true,
        // userid (≤255) + host (≤255) + 8 + 2 NULs: a longer pending input is a buffering leak.
        maxPending: 8 + 256 + 256,
        extra: (v) => {
          const uidEnd = input.indexOf(0, 8);
          lossless('userid', v.userid, input.subarray(8, uidEnd), 'utf8');
          const split = timed('splitSocks4Userid', () => splitSocks4Userid(v.userid));
          if (split.username + (split.password === undefined ? '' : `:${split.password}`) !== v.userid) violation('round-trip', 'userid split loses text');
        },
      },
      input,
    );
  },
};

export const socks5Greeting: FuzzTarget = {
  name: 'socks5.greeting',
  generate(rng) {
    const n = rng.range(1, 6);
    return Buffer.concat([Buffer.from([5, n]), rng.bytes(n)]);
  },
  check(input) {
    checkParse({ name: this.name, parse: parseGreeting, incremental: true, maxPending: 2 + 255 }, input);
  },
};

export const socks5UserPass: FuzzTarget = {
  name: 'socks5.userpass',
  generate(rng) {
    return encodeUserPass(gen.label(rng), rng.chance(0.8) ? gen.text(rng, 40) : 'pässwörd✓');
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parseUserPass,
        incremental: true,
        maxPending: 3 + 255 + 255,
        encode: (v) => encodeUserPass(v.username, v.password),
        extra: (v) => {
          const ulen = input[1]!;
          lossless('username', v.username, input.subarray(2, 2 + ulen), 'utf8');
          lossless('password', v.password, input.subarray(3 + ulen, 3 + ulen + input[2 + ulen]!), 'utf8');
        },
      },
      input,
    );
  },
};

export const socks5Request: FuzzTarget = {
  name: 'socks5.request',
  generate(rng) {
    return Buffer.concat([Buffer.from([5, rng.pick([1, 2, 3, 0x83, 0]), rng.chance(0.9) ? 0 : rng.int(256)]), socks5Address(rng)]);
  },
  check(input) {
    checkParse({ name: this.name, parse: parseRequest, incremental: true, maxPending: 4 + 1 + 255 + 2, encode: (v) => encodeRequest(v.cmd, v.target.host, v.target.port) }, input);
  },
};

export const socks5Reply: FuzzTarget = {
  name: 'socks5.reply',
  generate(rng) {
    return Buffer.concat([Buffer.from([5, rng.int(9), 0]), socks5Address(rng)]);
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parseReply,
        incremental: true,
        maxPending: 4 + 1 + 255 + 2,
        // encodeReply writes an IP bind only; a domain bind is sent as 0.0.0.0:0 (documented there).
        encode: (v) => (v.bind.kind === 'domain' ? undefined : encodeReply(v.rep, v.bind)),
      },
      input,
    );
  },
};

export const socks5UdpHeader: FuzzTarget = {
  name: 'socks5.udp-header',
  generate(rng) {
    return Buffer.concat([Buffer.from([0, 0, rng.chance(0.9) ? 0 : 1]), socks5Address(rng), rng.bytes(rng.int(40))]);
  },
  check(input) {
    checkParse(
      {
        name: this.name,
        parse: parseUdpDatagram,
        incremental: false,
        encode: (v) => encodeUdpDatagram(v.target, v.data),
        extra: (v) => {
          if (v.data.length > input.length) violation('consumed-within-input', 'payload longer than the datagram');
        },
      },
      input,
    );
  },
};

export const udpInTcp: FuzzTarget = {
  name: 'socks5.udp-in-tcp',
  generate(rng) {
    const frames: Buffer[] = [];
    const n = rng.range(1, 4);
    for (let i = 0; i < n; i++) frames.push(encodeFrame(rng.chance(0.05) ? Buffer.alloc(rng.pick([0, MAX_FRAME])) : rng.bytes(rng.int(60))));
    return Buffer.concat(frames);
  },
  check(input) {
    const whole = new FrameScanner();
    const all = timed(this.name, () => whole.feed(input), false);
    const split = new FrameScanner();
    const parts: Buffer[] = [];
    let prev = 0;
    for (const cut of [...randomCuts(input.length, inputRng(input)), input.length]) {
      parts.push(...timed(this.name, () => split.feed(input.subarray(prev, cut)), false));
      prev = cut;
      if (split.buffered > 2 + MAX_FRAME) violation('bounded-pending', `scanner holds ${split.buffered} bytes`);
    }
    const a = Buffer.concat(all.map(encodeFrame));
    const b = Buffer.concat(parts.map(encodeFrame));
    if (!a.equals(b) || whole.buffered !== split.buffered) violation('incremental', `frames differ when split (${all.length} vs ${parts.length})`);
    if (a.length + whole.buffered !== input.length) violation('consumed-within-input', `frames ${a.length} + pending ${whole.buffered} ≠ ${input.length} bytes`);
  },
};

export const SOCKS_TARGETS: readonly FuzzTarget[] = [socks4Request, socks5Greeting, socks5UserPass, socks5Request, socks5Reply, socks5UdpHeader, udpInTcp];
