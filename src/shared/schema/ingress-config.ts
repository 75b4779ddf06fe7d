/**
 * The standalone ingress configuration (YAML file, or what `hopgate up`
 * builds in memory). One schema; defaults live here.
 */
import { z } from 'zod';
import { isCidrOrIp } from '../net-addr.js';
import { LIMITS } from '../limits.js';

const Cidr = z.string().refine(isCidrOrIp, { message: 'not an IP address or CIDR' });
const Port = z.number().int().min(1).max(65535);

export const UserSchema = z
  .object({
    login: z.string().regex(/^[A-Za-z0-9_.@+]{1,64}$/, 'login must be 1-64 of A-Z a-z 0-9 _ . @ +'),
    /** `$scrypt$...` from `hopgate hash-password`; never a clear password. */
    passwordHash: z.string().startsWith('$scrypt$').optional(),
    /** Allowed source addresses. With a password: both must match. */
    sources: z.array(Cidr).default([]),
    /** Connections from `sources` without credentials are this user. */
    sourceAuth: z.boolean().default(false),
    maxConnections: z.number().int().positive().optional(),
    status: z.enum(['active', 'suspended']).default('active'),
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
  country: z.string().regex(/^[a-z]{2}$/, 'country must be a lower-case ISO 3166-1 alpha-2 code').optional(),
  state: z.string().optional(),
  city: z.string().optional(),
  asn: z.number().int().positive().optional(),
  /** Hops crossed before this exit, in order: ingress → via[0] → … → exit → target. */
  via: z.array(HopSchema).default([]),
}).strict();

export const IngressConfigSchema = z
  .object({
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        /** [0, 0] binds one ephemeral port (tests). */
        ports: z.tuple([Port.or(z.literal(0)), Port.or(z.literal(0))]).default([8000, 8099]),
      })
      .strict()
      .prefault({})
      .refine((l) => l.ports[0] <= l.ports[1] && l.ports[1] - l.ports[0] < 1024, {
        message: 'ports must be [first, last] with first <= last and at most 1024 ports',
      }),
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
      .object({ localAddress: z.string().optional() })
      .strict()
      .prefault({}),
    limits: z
      .object({
        maxConnections: z.number().int().positive().default(100_000),
        perUserMaxConnections: z.number().int().positive().default(10_000),
        handshakeTimeoutMs: z.number().int().positive().default(LIMITS.handshakeTimeoutMs),
        connectTimeoutMs: z.number().int().positive().default(LIMITS.connectTimeoutMs),
        idleTimeoutMs: z.number().int().positive().default(LIMITS.idleTimeoutMs),
        maxHeadBytes: z.number().int().min(1024).max(1 << 20).default(LIMITS.maxHeadBytes),
        drainTimeoutMs: z.number().int().nonnegative().default(LIMITS.drainTimeoutMs),
        /** Active reachability probe of every exit (0: passive health only). */
        exitProbeIntervalMs: z.number().int().nonnegative().default(5000),
        /** Auth failures a source may make before its replies are slowed down. */
        authFailuresFree: z.number().int().nonnegative().default(5),
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
    metrics: z.object({ host: z.string().default('127.0.0.1'), port: Port }).strict().optional(),
    users: z.array(UserSchema).default([]),
    /** Ways out. Empty: the ingress egresses directly. */
    exits: z.array(ExitSchema).default([]),
    /** Client protocols this node accepts (an exit node accepts only socks5). */
    protocols: z.array(z.enum(['socks5', 'socks4', 'http', 'tls'])).default(['socks5', 'socks4', 'http', 'tls']),
  })
  .strict();

export type IngressConfigInput = z.input<typeof IngressConfigSchema>;
export type IngressConfig = z.output<typeof IngressConfigSchema>;
export type UserConfig = z.output<typeof UserSchema>;
export type ExitConfig = z.output<typeof ExitSchema>;
export type HopConfig = z.output<typeof HopSchema>;
