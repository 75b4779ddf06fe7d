/**
 * Published sites: an HTTP service inside a reverse exit's network, reachable
 * on the ingress's `reverse.publishListen` port by its host name (a reverse
 * proxy by `Host` header), and over HTTPS on `reverse.publishTlsListen` (TLS
 * ends here with the site's certificate, chosen by SNI; publish-tls.ts). The
 * request goes to the exit over one of its work connections, like a
 * customer's tunnel: the ingress still never opens a connection inward. One
 * client connection serves one site (the first request's Host); its bytes are
 * then relayed as they are.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ProxyError, REPLIES, type ErrorCode } from '../../shared/errors.js';
import { LIMITS } from '../../shared/limits.js';
import { CidrSet, unmapIPv4 } from '../../shared/net-addr.js';
import { targetKind, type TargetAddress } from '../../protocol/address.js';
import { parseRequestHead } from '../../protocol/http/request-head.js';
import { ok } from '../../protocol/parse.js';
import { encodeProxyResponse } from '../../protocol/http/response-writer.js';
import { MAX_BODY_BYTES } from '../../protocol/work-packet/codec.js';
import type { ReverseExitConfig, ReverseConfig } from '../../shared/schema/ingress-config.js';
import type { Snapshot } from '../config/snapshot.js';
import { ByteReader } from '../byte-reader.js';
import { relay } from '../relay/relay.js';
import type { ReverseDialOptions } from './dial-reverse.js';
import { siteContexts } from './publish-tls.js';
import { boundPort, listenOn } from '../../shared/listen.js';
import { endClient } from '../front/end-client.js';

type Site = ReverseConfig['publish'][number];

export interface PublishDialer {
  dial(exit: ReverseExitConfig, target: TargetAddress, timeoutMs: number, extra: Partial<ReverseDialOptions>): Promise<Socket>;
}

interface CompiledSite {
  readonly site: Site;
  readonly target: TargetAddress;
  readonly allowFrom: CidrSet;
}

const compiledSites = new WeakMap<object, Map<string, CompiledSite>>();

function sitesOf(snap: Snapshot): Map<string, CompiledSite> {
  const list = snap.config.reverse?.publish ?? [];
  let m = compiledSites.get(list);
  if (!m) {
    m = new Map();
    for (const site of list) {
      const at = site.target.lastIndexOf(':');
      const host = site.target.slice(0, at).replace(/^\[|\]$/g, '');
      m.set(site.host.toLowerCase(), { site, target: { host, port: Number(site.target.slice(at + 1)), kind: targetKind(host) }, allowFrom: new CidrSet(site.allowFrom) });
    }
    compiledSites.set(list, m);
  }
  return m;
}

/** The host name a request is for, lower case, without a port. */
function hostOf(headers: readonly { name: string; value: string }[]): string | undefined {
  const h = headers.find((x) => x.name.toLowerCase() === 'host')?.value.trim().toLowerCase();
  if (!h) return undefined;
  return h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d+$/, '');
}

/** A request the site does not take: the HTTP status and reason, with a hopgate code. */
class Refusal extends ProxyError {
  constructor(
    readonly status: number,
    readonly reason: string,
    code: ErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

export class PublishServer {
  private server: Server | undefined;
  private tlsServer: Server | undefined;
  private readonly live = new Set<Socket>();
  served = 0;

  constructor(
    private readonly snapshot: () => Snapshot,
    private readonly dialer: PublishDialer,
  ) {}

  get port(): number | undefined {
    return boundPort(this.server);
  }

  /** The HTTPS port (publishTlsListen), once listening. */
  get tlsPort(): number | undefined {
    return boundPort(this.tlsServer);
  }

  async listen(host: string, port: number): Promise<void> {
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (s) => void this.serve(s).catch(() => s.destroy())); // serve() answers its own refusals; anything else closes the connection
    await listenOn(this.server, host, port, 1024);
  }

  /** HTTPS: each site's certificate by SNI, from the configuration in force when the client says hello. */
  async listenTls(host: string, port: number): Promise<void> {
    const config = (): Snapshot['config'] => this.snapshot().config;
    const server = createTlsServer(
      {
        allowHalfOpen: true,
        minVersion: 'TLSv1.2',
        handshakeTimeout: config().limits.handshakeTimeoutMs,
        SNICallback: (name, cb) => {
          try {
            const ctx = siteContexts(config()).pick(name);
            cb(ctx ? null : new Error(`no certificate for ${name}`), ctx);
          } catch (err) {
            cb(err as Error); // an unreadable certificate file: this handshake fails, the port stays up
          }
        },
      },
      (s: TLSSocket) => void this.serve(s, typeof s.servername === 'string' ? s.servername.toLowerCase() : undefined).catch(() => s.destroy()),
    );
    server.on('tlsClientError', () => undefined); // a scanner, an unknown name without a default certificate
    this.tlsServer = server;
    await listenOn(server, host, port, 1024);
  }

  /** `sni`: the TLS client's server name (HTTPS port), which must be the site the request names. */
  private async serve(client: Socket, sni?: string): Promise<void> {
    this.live.add(client);
    client.once('close', () => this.live.delete(client));
    client.on('error', () => undefined);
    const snap = this.snapshot();
    const limits = snap.config.limits;
    const deadline = setTimeout(() => client.destroy(), limits.handshakeTimeoutMs);
    const reader = new ByteReader(client, Buffer.alloc(0), limits.maxHeadBytes);
    try {
      // Parsed in place (nothing consumed): the head itself is forwarded as it came.
      const head = await reader.read((b) => {
        const r = parseRequestHead(b, { maxHeadBytes: limits.maxHeadBytes, maxHeaderCount: LIMITS.maxHeaderCount });
        return r.kind === 'ok' ? ok(r.value, 0) : r;
      }, 'HEADERS_TOO_LARGE', 'client closed before a request');
      const host = hostOf(head.headers);
      // A connection made for one site must not carry requests for another (the certificate and SNI said which).
      if (sni !== undefined && host !== undefined && host !== sni) throw new Refusal(421, 'Misdirected Request', 'BAD_REQUEST', `this connection is for ${sni}, not ${host}`);
      const found = host === undefined ? undefined : sitesOf(snap).get(host);
      if (!found) throw new ProxyError('NO_EXIT_MATCH', host === undefined ? 'request without a Host header' : `no site ${host} is published here`);
      const source = unmapIPv4(client.remoteAddress ?? '');
      if (found.allowFrom.size > 0 && !found.allowFrom.hasText(source)) throw new ProxyError('SOURCE_NOT_ALLOWED', `site ${host} is not published to ${source}`);
      const exit = snap.exits.byIdOf(found.site.exit)?.config;
      if (!exit || exit.kind !== 'reverse') throw new ProxyError('NO_EXIT_MATCH', `site ${host}: exit ${found.site.exit} is not configured`);
      // The request head (and whatever followed it) rides with the request: no extra round trip.
      const all = reader.detach();
      const early = all.length <= MAX_BODY_BYTES ? all : head.headBytes <= MAX_BODY_BYTES ? all.subarray(0, head.headBytes) : Buffer.alloc(0);
      const rest = all.subarray(early.length);
      const upstream = await this.dialer.dial(exit, found.target, limits.connectTimeoutMs, { purpose: 'publish', early });
      clearTimeout(deadline);
      if (client.destroyed) return void upstream.destroy();
      this.served++;
      if (rest.length > 0) upstream.write(rest);
      relay(client, upstream, { up: 0, down: 0 }, limits.idleTimeoutMs, () => undefined);
      client.resume();
    } catch (err) {
      clearTimeout(deadline);
      reader.detach();
      const code: ErrorCode = err instanceof ProxyError ? err.code : 'INTERNAL';
      const status = err instanceof Refusal ? err.status : code === 'NO_EXIT_MATCH' ? 404 : code === 'SOURCE_NOT_ALLOWED' ? 403 : REPLIES[code].httpStatus;
      const reason = err instanceof Refusal ? err.reason : status === 404 ? 'Not Found' : status === 403 ? 'Forbidden' : REPLIES[code].httpReason;
      const message = (err as Error).message;
      if (!client.destroyed) endClient(client, encodeProxyResponse(status, `${reason} (${code})`, { headers: [['X-Hopgate-Error', code]], body: `${code}: ${message}\n`, close: true }));
    }
  }

  /** Stop accepting; with `cut`, also end the connections being served. */
  close(cut = false): void {
    if (this.server?.listening) this.server.close();
    if (this.tlsServer?.listening) this.tlsServer.close();
    if (cut) for (const s of this.live) s.destroy();
  }
}
