/**
 * Everything reverse on the ingress: the TLS tunnel port exits dial
 * (`reverse.listen`, default 7443), the registry of their work connections,
 * the dialer routing uses, and the port of published sites. In a cluster
 * worker the primary holds the tunnel port and hands connections over
 * (tunnel-dispatch.ts, tunnel-intake.ts).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { Gauge, type Registry } from 'prom-client';
import type { TargetAddress } from '../../protocol/address.js';
import { unmapIPv4 } from '../../shared/net-addr.js';
import type { IngressConfig, ReverseExitConfig } from '../../shared/schema/ingress-config.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ReverseDialer } from '../upstream/dial-route.js';
import { dialReverse, openReverseDatagrams, reverseTargetRefusal, type ReverseDialOptions } from './dial-reverse.js';
import type { LinkStream } from '../../link/stream.js';
import { PublishServer } from './publish.js';
import { ReverseRegistry, type RegistryLog, type ReverseStats } from './registry.js';
import { checkReverseConfig, tunnelListen } from '../../shared/schema/check-reverse-config.js';
import { TunnelIntake, type IntakeLink } from './tunnel-intake.js';
import { boundPort, listenOn } from '../../shared/listen.js';
import type { ThrottleSync } from '../auth/throttle-sync.js';

/** A cluster worker's channel to its primary for the reverse side (processes/worker-channel.ts). */
export interface ReversePrimaryLink {
  /** Tunnel connections in (the primary holds `reverse.listen`), load reports out. */
  readonly intake: IntakeLink;
  /** Failed registrations, counted across the workers. */
  readonly throttle: ThrottleSync;
}

export interface ReverseNodeOptions {
  /** A cluster worker: tunnel connections come from the primary, over this. */
  readonly fromPrimary?: IntakeLink;
}

function tlsFiles(config: IngressConfig): { cert: Buffer; key: Buffer } {
  const t = config.reverse?.tls ?? config.tls;
  if (!t) throw new Error('reverse exits need a certificate for the tunnel port: set reverse.tls (or tls)');
  return { cert: readFileSync(t.cert), key: readFileSync(t.key) };
}

export class ReverseNode implements ReverseDialer {
  readonly registry: ReverseRegistry;
  private tunnel: TlsServer | undefined;
  private intake: TunnelIntake | undefined;
  private publish: PublishServer | undefined;

  private constructor(
    private snap: Snapshot,
    private readonly log: RegistryLog,
  ) {
    this.registry = new ReverseRegistry(snap, log);
  }

  /** Start for a configuration with reverse exits or a `reverse` section (shared/schema/check-reverse-config.ts usesReverse). */
  static async start(snap: Snapshot, log: RegistryLog, opts: ReverseNodeOptions = {}): Promise<ReverseNode> {
    const cfg = snap.config;
    checkReverseConfig(cfg);
    const node = new ReverseNode(snap, log);
    try {
      if (opts.fromPrimary) node.takeFromPrimary(opts.fromPrimary);
      else await node.listenTunnel();
      const r = cfg.reverse;
      if (r?.publishListen || r?.publishTlsListen) node.publish = new PublishServer(() => node.snap, node);
      if (r?.publishListen) await node.publish!.listen(r.publishListen.host, r.publishListen.port);
      if (r?.publishTlsListen) await node.publish!.listenTls(r.publishTlsListen.host, r.publishTlsListen.port);
    } catch (err) {
      node.close();
      throw err;
    }
    return node;
  }

  private accept(socket: TLSSocket, source: string): void {
    socket.setNoDelay(true);
    this.registry.accept(socket, source, this.snap.config.limits.handshakeTimeoutMs);
  }

  private async listenTunnel(): Promise<void> {
    const cfg = this.snap.config;
    const listen = tunnelListen(cfg);
    // A client certificate is asked for, never required: exits with a pinned link identity present one (registry.ts checks it).
    const tlsOpts = { ...tlsFiles(cfg), minVersion: 'TLSv1.2' as const, allowHalfOpen: true, handshakeTimeout: cfg.limits.handshakeTimeoutMs, requestCert: true, rejectUnauthorized: false };
    const server = createTlsServer(tlsOpts, (socket: TLSSocket) => {
      this.accept(socket, unmapIPv4(socket.remoteAddress ?? ''));
    });
    server.on('tlsClientError', () => undefined); // a scanner or a wrong CA: nothing to do
    this.tunnel = server;
    await listenOn(server, listen.host, listen.port);
  }

  private takeFromPrimary(link: IntakeLink): void {
    const intake = new TunnelIntake(
      tlsFiles(this.snap.config),
      () => this.snap.config.limits.handshakeTimeoutMs,
      (socket, source) => this.accept(socket, source),
      this.registry,
      link,
    );
    this.registry.onChange = () => intake.changed();
    this.registry.shared = true;
    this.intake = intake;
  }

  /** The tunnel port this process listens on (undefined in a cluster worker: the primary holds it). */
  get tunnelPort(): number | undefined {
    return boundPort(this.tunnel);
  }

  get publishPort(): number | undefined {
    return this.publish?.port;
  }

  get publishTlsPort(): number | undefined {
    return this.publish?.tlsPort;
  }

  configure(snap: Snapshot): void {
    const before = this.snap.config.reverse?.tls ?? this.snap.config.tls;
    const after = snap.config.reverse?.tls ?? snap.config.tls;
    this.snap = snap;
    this.registry.configure(snap);
    // A new certificate applies to new work connections (listen address changes need a restart).
    if (after && (after.cert !== before?.cert || after.key !== before?.key)) {
      // An unreadable or bad file must not stop the rest of this configuration from applying: keep the old certificate.
      try {
        const files = tlsFiles(snap.config);
        this.tunnel?.setSecureContext(files);
        this.intake?.setSecureContext(files);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'tunnel certificate not reloaded; the previous one stays in use');
      }
    }
  }

  dial(exit: ReverseExitConfig, target: TargetAddress, timeoutMs: number, extra: Partial<ReverseDialOptions> = {}): Promise<Socket> {
    const waitMs = this.snap.config.reverse?.waitMs ?? 5000;
    return dialReverse(this.registry, exit, target, { waitMs, timeoutMs, ...extra });
  }

  /**
   * A UDP association through reverse exit `exit`: a UDP stream on one of its links, and the
   * ingress's own rule for each datagram's target (its `targets:` ports and literal addresses;
   * names are for the exit to judge once resolved). A refused datagram is counted, then dropped.
   */
  async openDatagrams(exit: ReverseExitConfig, timeoutMs: number): Promise<{ stream: LinkStream; admit: (t: TargetAddress) => boolean }> {
    const waitMs = this.snap.config.reverse?.waitMs ?? 5000;
    const stream = await openReverseDatagrams(this.registry, exit, { waitMs, timeoutMs });
    const admit = (t: TargetAddress): boolean => {
      if (reverseTargetRefusal(exit, t) === undefined) return true;
      this.registry.countUdpRefused(exit.id);
      return false;
    };
    return { stream, admit };
  }

  /** Exported figures: work connections per exit and state; links, their streams and UDP datagrams per exit. */
  registerMetrics(registry: Registry): void {
    const reg = this.registry;
    perExitGauge(registry, reg, 'hopgate_reverse_work_connections', 'Work connections of reverse exits, by exit and state (idle, busy), and requests waiting for one', 'state', (s) => ({
      idle: s.idle,
      busy: s.busy,
      waiting: s.waiting,
    }));
    perExitGauge(registry, reg, 'hopgate_reverse_links', 'Links of reverse exits taking new streams, and the streams (tunnels) open on them, by exit', 'what', (s) => ({ links: s.links, streams: s.streams }));
    // Figures that only grow, as gauges read at scrape time (the byte path touches no metric).
    perExitGauge(registry, reg, 'hopgate_reverse_link_datagrams', "UDP datagrams of associations through reverse exits since this process started, by exit: sent over its links, received (replies), dropped at a full queue (the link behind), refused here (outside the exit's targets)", 'outcome', (s) => ({ ...s.datagrams }));
  }

  /**
   * Stop accepting exits and published requests; idle work connections close (tunnels
   * drain with their sessions). With `cut`, published connections still open end too.
   */
  close(cut = false): void {
    this.registry.close();
    this.intake?.close();
    if (this.tunnel?.listening) this.tunnel.close();
    this.publish?.close(cut);
  }
}

/** A gauge read from the registry at each scrape: one series per exit and figure, the figure's name under `label`. */
function perExitGauge(registry: Registry, reg: ReverseRegistry, name: string, help: string, label: string, figures: (s: ReverseStats['exits'][string]) => Record<string, number>): void {
  new Gauge({
    name,
    help,
    labelNames: ['exit', label],
    registers: [registry],
    collect() {
      this.reset();
      for (const [exit, s] of Object.entries(reg.stats().exits)) {
        for (const [figure, value] of Object.entries(figures(s))) this.set({ exit, [label]: figure }, value);
      }
    },
  });
}
