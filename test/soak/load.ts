/**
 * Mixed client load for the soak: real curl in every proxy mode (HTTP, HTTPS
 * proxy, SOCKS4, SOCKS4a, SOCKS5, SOCKS5h) and UDP ASSOCIATE through the npm
 * `socks` client, each request pinned to a random exit by username
 * (`login-exitip-IP`). Bounded: it runs until stop() and never has more than
 * `concurrency` requests in flight.
 */
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { SocksClient } from 'socks';
import { curl } from '../helpers/curl.js';

export type Protocol = 'http' | 'https-proxy' | 'socks4' | 'socks4a' | 'socks5' | 'socks5h' | 'udp';
export const PROTOCOLS: readonly Protocol[] = ['http', 'https-proxy', 'socks4', 'socks4a', 'socks5', 'socks5h', 'udp'];

export interface LoadTarget {
  readonly proxyHost: string;
  readonly proxyPort: number;
  readonly ca: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly udpPort: number;
  /** Egress IPs to pin requests to. */
  readonly exitIps: readonly string[];
  /** Exits UDP ASSOCIATE is pinned to (a reverse exit carries it only over links, else CommandNotSupported: docs/REVERSE-EXITS.md). */
  readonly udpExitIps: readonly string[];
  readonly users: () => readonly { login: string; password: string }[];
}

export interface LoadStats {
  ok: Record<string, number>;
  failed: Record<string, number>;
  lastErrors: string[];
}

const BODY = 4096;

async function oneCurl(t: LoadTarget, p: Exclude<Protocol, 'udp'>, user: string, password: string): Promise<string | undefined> {
  const url = `http://${t.httpHost}:${t.httpPort}/bytes/${BODY}`;
  const enc = encodeURIComponent;
  const proxy = {
    http: ['-x', `http://${enc(user)}:${enc(password)}@${t.proxyHost}:${t.proxyPort}`],
    'https-proxy': ['-x', `https://${enc(user)}:${enc(password)}@${t.proxyHost}:${t.proxyPort}`, '--proxy-cacert', t.ca],
    socks4: ['-x', `socks4://${enc(`${user}:${password}`)}@${t.proxyHost}:${t.proxyPort}`],
    socks4a: ['-x', `socks4a://${enc(`${user}:${password}`)}@${t.proxyHost}:${t.proxyPort}`],
    socks5: ['-x', `socks5://${enc(user)}:${enc(password)}@${t.proxyHost}:${t.proxyPort}`],
    socks5h: ['-x', `socks5h://${enc(user)}:${enc(password)}@${t.proxyHost}:${t.proxyPort}`],
  }[p];
  const r = await curl([...proxy, '-o', '-', '-w', '\n%{http_code}', url], 10_000);
  if (r.code !== 0) return `curl ${r.code}: ${r.stderr.trim().slice(0, 200)}`;
  const status = r.stdout.slice(r.stdout.lastIndexOf('\n') + 1);
  if (status !== '200' || r.stdout.length !== BODY + 4) return `status ${status}, ${r.stdout.length - 4} bytes`;
  return undefined;
}

export async function oneUdp(t: LoadTarget, user: string, password: string): Promise<string | undefined> {
  const client = new SocksClient({
    proxy: { host: t.proxyHost, port: t.proxyPort, type: 5, userId: user, password },
    command: 'associate',
    destination: { host: '0.0.0.0', port: 0 },
    timeout: 5000,
  });
  const established = await new Promise<Awaited<ReturnType<typeof SocksClient.createConnection>>>((resolve, reject) => {
    client.once('established', resolve);
    client.once('error', reject);
    client.connect();
  });
  const udp = createSocket('udp4');
  try {
    udp.bind(0, t.httpHost === '127.0.0.1' ? '127.0.0.1' : undefined);
    await once(udp, 'listening');
    const payload = Buffer.from(`soak-${Date.now()}-${Math.random()}`);
    const frame = SocksClient.createUDPFrame({ remoteHost: { host: t.httpHost, port: t.udpPort }, data: payload });
    const relay = established.remoteHost!;
    const got = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no UDP echo within 3 s')), 3000);
      udp.once('message', (m) => {
        clearTimeout(timer);
        resolve(SocksClient.parseUDPFrame(m).data);
      });
    });
    udp.send(frame, relay.port, relay.host === '0.0.0.0' ? t.proxyHost : relay.host);
    const data = await got;
    return data.equals(payload) ? undefined : 'UDP echo differs';
  } finally {
    udp.close();
    established.socket.destroy();
  }
}

export class MixedLoad {
  readonly stats: LoadStats = { ok: {}, failed: {}, lastErrors: [] };
  private running = false;
  private loops: Promise<void>[] = [];
  private n = 0;

  constructor(private readonly t: LoadTarget, private readonly concurrency = 3, private readonly pauseMs = 50) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop(i));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  private async loop(offset: number): Promise<void> {
    while (this.running) {
      const i = this.n++ + offset;
      const p = PROTOCOLS[i % PROTOCOLS.length]!;
      const users = this.t.users();
      const u = users[i % users.length]!;
      const ips = p === 'udp' ? this.t.udpExitIps : this.t.exitIps;
      const ip = ips[Math.floor(Math.random() * ips.length)]!;
      const login = `${u.login}-exitip-${ip}`;
      let err: string | undefined;
      try {
        err = p === 'udp' ? await oneUdp(this.t, login, u.password) : await oneCurl(this.t, p, login, u.password);
      } catch (e) {
        err = (e as Error).message;
      }
      const bucket = err ? this.stats.failed : this.stats.ok;
      bucket[p] = (bucket[p] ?? 0) + 1;
      if (err) this.stats.lastErrors = [...this.stats.lastErrors.slice(-19), `${new Date().toISOString()} ${p} ${login}: ${err}`];
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }
}
