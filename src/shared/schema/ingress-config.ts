/**
 * The standalone ingress configuration (YAML file, or what `hopgate up`
 * builds in memory). One schema; defaults live here.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { isCidrOrIp } from '../net-addr.js';
import { LIMITS } from '../limits.js';
import { timerMs } from './timer-ms.js';
import { sourceAuthOverlaps, sourceRangeProblem } from '../source-range.js';
import { FINGERPRINT_PATTERN } from '../fingerprint.js';

/** Heartbeat intervals of the reverse tunnel port; a reverse exit clamps what an ingress announces to the same range. */
export const REVERSE_HEARTBEAT_MS = { min: 50, max: 600_000 } as const;

export const Cidr = z.string().refine(isCidrOrIp, { message: 'not an IP address or CIDR' });
/** A customer's source range: no broader than the floor, never unspecified/multicast/broadcast (source-range.ts). */
const SourceRange = z.string().superRefine((text, ctx) => {
  const problem = sourceRangeProblem(text);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});
const Port = z.number().int().min(1).max(65535);
/** A certificate's SHA-256 fingerprint, as links pin them. */
const Fingerprint = (field: string) => z.string().regex(FINGERPRINT_PATTERN, `${field} must be a SHA-256 fingerprint (64 hex digits, colons optional)`);
/** An exit's IPv6 egress address (dual-stack exits, docs/EXITS.md): what IPv6 targets see. */
const EgressIp6 = z.string().refine((t) => isIPv6(t), { message: 'egressIp6 must be an IPv6 address' });
const CountryCode = z.string().regex(/^[a-z]{2}$/, 'country must be a lower-case ISO 3166-1 alpha-2 code');

/** Place tags an exit carries and a pool or a username filters by. */
const PlaceSchema = z
  .object({
    country: CountryCode.optional(),
    state: z.string().optional(),
    city: z.string().optional(),
    asn: z.number().int().positive().optional(),
  })
  .strict();

export const UserSchema = z
  .object({
    login: z.string().regex(/^[A-Za-z0-9_.@+]{1,64}$/, 'login must be 1-64 of A-Z a-z 0-9 _ . @ +'),
    /** `$scrypt$...` from `hopgate hash-password`; never a clear password. */
    passwordHash: z.string().startsWith('$scrypt$').optional(),
    /** Allowed source addresses. With a password: both must match. */
    sources: z.array(SourceRange).default([]),
    /** Connections from `sources` without credentials are this user (their ranges may not overlap another such user's). */
    sourceAuth: z.boolean().default(false),
    maxConnections: z.number().int().positive().optional(),
    status: z.enum(['active', 'suspended']).default('active'),
    /**
     * Exits this customer may use, in order: port base+1 is the first (docs/ROUTING.md).
     * With neither `exits` nor `pools`, every exit of the ingress.
     */
    exits: z.array(z.string()).default([]),
    /** More exits by tags, appended to `exits` in configuration order (each pool: all its tags must match). */
    pools: z.array(PlaceSchema).default([]),
    /** Port routing for this customer; unset fields come from the top-level `routing`. */
    portBase: Port.optional(),
    portScheme: z.enum(['sequential', 'place']).optional(),
    /** Place scheme: country slots in port order (slot 1 = base + stride…); default: countries of the exits in order. */
    places: z.array(CountryCode).optional(),
    /** Token-bucket rate per direction, shared by all of the customer's connections on one ingress. */
    bandwidth: z
      .object({
        upBytesPerSec: z.number().int().positive().optional(),
        downBytesPerSec: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    /** Data quota (both directions) per calendar period in UTC. */
    quota: z
      .object({
        bytes: z.number().int().positive(),
        period: z.enum(['hour', 'day', 'month']).default('month'),
      })
      .strict()
      .optional(),
    /**
     * Set by the control plane while the customer's quota for the period is used across all
     * ingresses: new connections are refused with QUOTA_EXCEEDED (and open ones cut) until this
     * time (ISO 8601); ignored once past.
     */
    quotaExceededUntil: z.iso.datetime({ offset: true }).optional(),
    /**
     * HTTP proxy answers (forwarded responses and the CONNECT 200) carry
     * `X-Hopgate-Exit: <exit id>; replacement=<0|1>`; the username's hdr-0/hdr-1 overrides it per request.
     */
    exitHeader: z.boolean().default(false),
  })
  .strict()
  .refine((u) => u.passwordHash !== undefined || (u.sourceAuth && u.sources.length > 0), {
    message: 'a user needs a passwordHash, or sourceAuth with sources',
  });

const HopSchema = z
  .object({
    /**
     * hopgate: a `hopgate exit` (SOCKS5, handshake pipelined in one round trip);
     * socks5: any SOCKS5 proxy (microsocks, dante…); http: an HTTP CONNECT proxy (squid…).
     */
    kind: z.enum(['hopgate', 'socks5', 'http']).default('socks5'),
    host: z.string().min(1),
    port: Port,
    username: z.string().max(255).optional(),
    password: z.string().max(255).optional(),
  })
  .strict();

export const ExitSchema = HopSchema.extend({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'id must be 1-64 of A-Z a-z 0-9 _ . -'),
  /** The address targets see; what `exitip-…` in a username pins. */
  egressIp: z.string().optional(),
  /** Its IPv6 egress address, when it has one as well (dual stack): IPv6 targets go only to exits with one (docs/ROUTING.md). */
  egressIp6: EgressIp6.optional(),
  country: CountryCode.optional(),
  state: z.string().optional(),
  city: z.string().optional(),
  asn: z.number().int().positive().optional(),
  /** Drained: takes no new connections, but keeps its port in customers' lists, served by a replacement (docs/ROUTING.md). */
  drain: z.boolean().optional(),
  /** Hops crossed before this exit, in order: ingress → via[0] → … → exit → target. */
  via: z.array(HopSchema).default([]),
  /**
   * A hopgate exit's link port (`hopgate exit --link-listen`) and the SHA-256 fingerprint of its
   * link certificate: tunnels then travel as streams in a few long-lived mutually authenticated
   * TLS connections instead of one SOCKS5 connection each (docs/EXITS.md). Needs `links` at the top.
   */
  link: z
    .object({
      port: Port,
      fingerprint: Fingerprint('link.fingerprint'),
      /** During a key rotation: the exit's next certificate, accepted beside `fingerprint` until the old one is retired. */
      nextFingerprint: Fingerprint('link.nextFingerprint').optional(),
    })
    .strict()
    .optional(),
}).strict();

/**
 * A reverse-connected exit (`hopgate exit --connect-to`): it dials this ingress's
 * tunnel port (`reverse.listen`) and leaves idle work connections; the ingress
 * never connects to it, so it has no host or port here. docs/REVERSE-EXITS.md.
 */
export const ReverseExitSchema = z
  .object({
    id: ExitSchema.shape.id,
    kind: z.literal('reverse'),
    /** `$scrypt$…` of the exit's token (`hopgate hash-password`); the token itself stays on the exit. */
    tokenHash: z.string().startsWith('$scrypt$'),
    /** Source addresses it may register from; empty: any (the token still decides). */
    from: z.array(Cidr).default([]),
    /** Work connections and links it may keep registered here at once (a bound on a misbehaving exit). */
    maxConnections: z.number().int().min(1).max(100_000).default(4096),
    /**
     * SHA-256 fingerprint of the exit's link identity (`hopgate exit --connect-to … --state-dir`
     * prints it): when set, a registration must also present that TLS client certificate.
     */
    linkFingerprint: Fingerprint('linkFingerprint').optional(),
    /** During a key rotation: the exit's next certificate, accepted beside `linkFingerprint` until the old one is retired. */
    nextLinkFingerprint: Fingerprint('nextLinkFingerprint').optional(),
    /** Which requests the ingress hands it (checked on the ingress; the exit applies its own rules too). */
    targets: z
      .object({ allow: z.array(Cidr).default([]), deny: z.array(Cidr).default([]), ports: z.array(Port).default([]) })
      .strict()
      .optional(),
    egressIp: z.string().optional(),
    egressIp6: EgressIp6.optional(),
    country: CountryCode.optional(),
    state: z.string().optional(),
    city: z.string().optional(),
    asn: z.number().int().positive().optional(),
    drain: ExitSchema.shape.drain,
    // Refused when given (it dials the ingress); present in the type so code reading any exit's
    // `host`, `port`, `username`, `password` or `via` still compiles and sees nothing.
    host: z.undefined({ error: 'a reverse exit has no host: it connects to the ingress (reverse.listen)' }).optional(),
    port: z.undefined({ error: 'a reverse exit has no port: it connects to the ingress (reverse.listen)' }).optional(),
    username: z.undefined({ error: 'a reverse exit authenticates with its token (tokenHash), not a username' }).optional(),
    password: z.undefined({ error: 'a reverse exit authenticates with its token (tokenHash), not a password' }).optional(),
    via: z.array(HopSchema).max(0, 'a reverse exit cannot be reached through hops').default([]),
  })
  .strict();

/** Any exit: forward (the ingress dials it) or reverse (it dials the ingress). */
export const AnyExitSchema = z.discriminatedUnion('kind', [ReverseExitSchema, ExitSchema]);

/** The ingress side of reverse-connected exits and the sites published through them. */
const ReverseSchema = z
  .object({
    /** The tunnel port exits dial (TLS). */
    listen: z.object({ host: z.string().default('127.0.0.1'), port: Port.or(z.literal(0)).default(7443) }).strict().prefault({}),
    /** Certificate for the tunnel port; default: the top-level `tls`. */
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    /** Idle work connections are checked this often; a peer silent for 2 intervals is dropped. */
    heartbeatMs: z.number().int().min(REVERSE_HEARTBEAT_MS.min).max(REVERSE_HEARTBEAT_MS.max).default(10_000),
    /** How long a request waits for an idle work connection when the exit's pool is exhausted. */
    waitMs: z.number().int().min(0).max(120_000).default(5_000),
    /** Plain HTTP port for published sites (reverse proxy by Host header). */
    publishListen: z.object({ host: z.string().default('127.0.0.1'), port: Port.or(z.literal(0)) }).strict().optional(),
    /** HTTPS port for published sites: TLS ends here, the certificate is chosen by SNI, and SNI and Host must name the same site. */
    publishTlsListen: z.object({ host: z.string().default('127.0.0.1'), port: Port.or(z.literal(0)) }).strict().optional(),
    /** Internal HTTP services reachable by host name, carried over a reverse exit's work connection. */
    publish: z
      .array(
        z
          .object({
            host: z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'host must be a host name'),
            exit: z.string(),
            /** `HOST:PORT` inside the exit's network (the exit resolves and checks it). */
            target: z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/, 'target must be HOST:PORT'),
            /** Client addresses that may use this site; empty: any. */
            allowFrom: z.array(Cidr).default([]),
            /** This site's certificate on the HTTPS port (publishTlsListen); default: reverse.tls, else tls. */
            tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

const BucketSchema = z
  .object({
    /** Refill rate as a share of the baseline rate frozen when attack mode began. */
    share: z.number().min(0).max(10).optional(),
    /** Floors of the rate, per second. */
    minConn: z.number().min(0).max(1e7).optional(),
    minUdp: z.number().min(0).max(1e8).optional(),
    burstSeconds: z.number().positive().max(60).optional(),
  })
  .strict();

/** Source legitimacy at the ingress; every field defaults to src/legitimacy's defaults. */
export const LegitimacySchema = z
  .object({
    /** Record evidence, take rules from the control plane and enforce them in attack mode. */
    enabled: z.boolean().default(true),
    /** Prefixes kept per report (heavy hitters beyond). */
    capacity: z.number().int().min(16).max(1_000_000).default(8192),
    /** Attack-mode detector. */
    detector: z
      .object({
        tickMs: z.number().int().min(50).max(60_000).optional(),
        baselineHalfLifeMs: z.number().int().min(1000).optional(),
        warmupMs: z.number().int().min(0).optional(),
        enterFactor: z.number().min(1).optional(),
        /** Absolute floors per second of the three signals. */
        enterMinConn: z.number().min(0).optional(),
        enterMinUdp: z.number().min(0).optional(),
        enterMinAuthFail: z.number().min(0).optional(),
        exitFactor: z.number().min(1).optional(),
        calmMs: z.number().int().min(0).optional(),
        maxFrozenMs: z.number().int().min(0).optional(),
        idleResetMs: z.number().int().min(1000).optional(),
      })
      .strict()
      .prefault({}),
    unlikely: BucketSchema.prefault({}),
    unknown: BucketSchema.prefault({}),
  })
  .strict();

/** The widest listen.ports range an ingress takes (`hopgate up --ports` checks it before anything starts). */
export const MAX_LISTEN_PORTS = 1024;

export const IngressConfigSchema = z
  .object({
    /** Format version of this document. */
    version: z.literal(1).default(1),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        /** [0, 0] binds one ephemeral port (tests). */
        ports: z.tuple([Port.or(z.literal(0)), Port.or(z.literal(0))]).default([8000, 8099]),
      })
      .strict()
      .prefault({})
      .refine((l) => l.ports[0] <= l.ports[1] && l.ports[1] - l.ports[0] < MAX_LISTEN_PORTS, {
        message: `ports must be [first, last] with first <= last and at most ${MAX_LISTEN_PORTS} ports`,
      }),
    /** How ingress ports map to exits (docs/ROUTING.md); per-customer fields override. */
    routing: z
      .object({
        /** Port of "random exit"; default: the first listening port. */
        portBase: Port.optional(),
        scheme: z.enum(['sequential', 'place']).default('sequential'),
        /** Place scheme: ports per country slot. */
        placeStride: z.number().int().min(2).max(1000).default(100),
        /** Sticky-session length when `session` is given without `sesstime`. */
        defaultSessionMinutes: z.number().int().min(1).max(1440).default(10),
      })
      .strict()
      .prefault({}),
    /**
     * PROXY protocol (v1 and v2) from these load balancers only: the header is required
     * from them and refused from anyone else.
     */
    proxyProtocol: z.object({ trusted: z.array(Cidr).default([]) }).strict().prefault({}),
    /** Ingress processes sharing the ports; default: one per CPU. */
    workers: z.number().int().min(1).max(64).optional(),
    tls: z.object({ cert: z.string(), key: z.string() }).strict().optional(),
    targetPolicy: z
      .object({
        /** Ranges allowed although special (private, loopback, link-local…). */
        allow: z.array(Cidr).default([]),
        /** Ranges always refused, checked first. */
        deny: z.array(Cidr).default([]),
        /** Allowed destination ports; empty = all. */
        ports: z.array(Port).default([]),
      })
      .strict()
      .prefault({}),
    egress: z
      .object({
        /** Source address of connections to targets; its family is the one it serves (an IPv6 address here serves IPv6). */
        localAddress: z.string().optional(),
        /**
         * The IPv6 source address beside an IPv4 localAddress (a dual-stack exit). With only one of the two
         * set, targets of the other family are refused (FAMILY_UNSUPPORTED); with neither, the kernel chooses.
         */
        localAddress6: EgressIp6.optional(),
        /** Source ports for connections from localAddress (default: the kernel's ephemeral range). */
        ports: z
          .tuple([Port, Port])
          .refine(([lo, hi]) => lo >= 1024 && lo < hi, 'ports must be [first, last] with 1024 ≤ first < last')
          .optional(),
      })
      .strict()
      .refine((e) => e.localAddress6 === undefined || e.localAddress === undefined || isIPv4(e.localAddress), {
        message: 'with localAddress6 set, localAddress must be the IPv4 address',
      })
      .prefault({}),
    limits: z
      .object({
        maxConnections: z.number().int().positive().default(100_000),
        perUserMaxConnections: z.number().int().positive().default(10_000),
        handshakeTimeoutMs: timerMs(1).default(LIMITS.handshakeTimeoutMs),
        /** Through an exit the ingress waits exitAnswerGraceMs longer: that sum arms a timer too. */
        connectTimeoutMs: timerMs(1, LIMITS.exitAnswerGraceMs).default(LIMITS.connectTimeoutMs),
        idleTimeoutMs: timerMs(1).default(LIMITS.idleTimeoutMs),
        maxHeadBytes: z.number().int().min(1024).max(1 << 20).default(LIMITS.maxHeadBytes),
        drainTimeoutMs: timerMs(0).default(LIMITS.drainTimeoutMs),
        /** Active reachability probe of every exit (0: passive health only). */
        exitProbeIntervalMs: timerMs(0).default(5000),
        /** Failed logins of one login from one source after which its attempts wait a backoff (docs/CONFIGURATION.md). */
        authFailuresFree: z.number().int().nonnegative().default(5),
        /** Failed logins from one source, any login, after which all its attempts wait a backoff. */
        authFailuresFreePerSource: z.number().int().nonnegative().default(20),
        /** The first backoff; it doubles with each further failure up to authBackoffMaxMs. */
        authBackoffBaseMs: z.number().int().min(1).default(1000),
        authBackoffMaxMs: z.number().int().min(1).default(60_000),
        /** Password checks (scrypt) one source may have running or queued at once; more are refused at once. */
        authChecksPerSource: z.number().int().min(1).max(256).default(4),
        /**
         * Connections one source (IPv4 address, IPv6 /64) may hold before authenticating; more are
         * closed at once. Never more than half of maxConnections, whatever this says.
         */
        maxPreAuthPerSource: z.number().int().min(1).default(1024),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
        access: z.boolean().default(true),
      })
      .strict()
      .prefault({}),
    /**
     * Admin HTTP: /metrics, /healthz, /v1/ports/LOGIN. Port 0: ephemeral (tests). `token`: the
     * bearer token /v1/ports/… (customers' logins and exits) takes; without one those routes answer 403.
     */
    metrics: z
      .object({ host: z.string().default('127.0.0.1'), port: Port.or(z.literal(0)), token: z.string().min(16, 'metrics.token must be at least 16 characters').optional() })
      .strict()
      .optional(),
    users: z.array(UserSchema).default([]),
    /** Ways out. Empty: the ingress egresses directly. */
    exits: z.array(AnyExitSchema).default([]),
    /** Tunnel port for reverse-connected exits, and published sites (docs/REVERSE-EXITS.md). */
    reverse: ReverseSchema.optional(),
    /**
     * This ingress's side of links to hopgate exits (exits[].link): its identity (key and
     * self-signed certificate, made on first start in `identityDir`; exits pin its fingerprint),
     * how many links it keeps to each exit, and the heartbeat that finds a dead one.
     */
    links: z
      .object({
        identityDir: z.string().min(1),
        perExit: z.number().int().min(1).max(16).default(2),
        heartbeatMs: z.number().int().min(0).max(600_000).default(10_000),
      })
      .strict()
      .optional(),
    /**
     * Source legitimacy (docs/LEGITIMACY.md): evidence reports to the control plane and
     * attack-mode limits by source class. Only an ingress fed by the control plane uses it.
     */
    legitimacy: LegitimacySchema.prefault({}),
    /** Client protocols this node accepts (an exit node accepts only socks5). */
    protocols: z.array(z.enum(['socks5', 'socks4', 'http', 'tls'])).default(['socks5', 'socks4', 'http', 'tls']),
  })
  .strict()
  .superRefine((c, ctx) => {
    // A connection without credentials must be one customer, whatever the order of the list.
    for (const o of sourceAuthOverlaps(c.users)) ctx.addIssue({ code: 'custom', path: ['users', o.index, 'sources'], message: o.message });
    c.exits.forEach((e, i) => {
      if (e.kind === 'reverse' || !e.link) return;
      const path = ['exits', i, 'link'];
      if (e.kind !== 'hopgate') ctx.addIssue({ code: 'custom', path, message: 'only a hopgate exit has a link' });
    });
  });

export type IngressConfigInput = z.input<typeof IngressConfigSchema>;
export type IngressConfig = z.output<typeof IngressConfigSchema>;
export type UserConfig = z.output<typeof UserSchema>;
/** Any exit of the configuration: narrow on `kind === 'reverse'` before using host, port or via. */
export type ExitConfig = z.output<typeof AnyExitSchema>;
/** An exit the ingress dials (hopgate, socks5, http). */
export type ForwardExitConfig = z.output<typeof ExitSchema>;
export type ReverseExitConfig = z.output<typeof ReverseExitSchema>;
export type ReverseConfig = z.output<typeof ReverseSchema>;
export type HopConfig = z.output<typeof HopSchema>;
export type PlaceConfig = z.output<typeof PlaceSchema>;
export type LegitimacyConfig = z.output<typeof LegitimacySchema>;
