/**
 * Every message between an ingress primary and its worker processes, in one
 * list: a discriminated union on `type`, all namespaced `hopgate:*`. What
 * arrives over IPC is checked against these schemas at receipt (a worker is
 * another process: a bug or a version skew there must not crash the primary)
 * and dropped, logged, when it does not fit.
 *
 * Payloads that the receiver validates anyway (a configuration goes through
 * ControlConfigState, a legitimacy rule message was accepted by the primary)
 * are checked only for being objects here.
 *
 * Sockets ride along as node:cluster handles: only a tunnel connection
 * (hopgate:reverse:conn) has one, and it must (parsePrimaryMessage); no
 * worker message takes one (parseWorkerMessage).
 */
import { Socket } from 'node:net';
import { z } from 'zod';
import { LOGIN_OUTCOMES, type DeltaMessage, type SnapshotMessage } from '../shared/control-protocol.js';
import type { RuleMessage } from '../legitimacy/messages.js';
import type { LocalOverrides } from '../ingress/control-link/config-state.js';
import type { QuotaTotalsMsg, QuotaUsageMsg } from '../ingress/guard/quota.js';
import type { ExitHealthMsg } from '../ingress/control-link/exit-health-report.js';
import type { MeterBatchMsg } from '../ingress/control-link/stats.js';
import type { LegitimacyEvidenceMsg, LegitimacyRulesMsg } from '../ingress/control-link/legitimacy-link.js';
import { MAX_REPORTED_EXITS, type TunnelConnMsg, type TunnelHelloMsg, type TunnelKeysMsg, type TunnelLoadMsg, type TunnelReleaseMsg } from '../ingress/reverse/tunnel-dispatch.js';
import type { AuthEventMsg } from '../ingress/auth/throttle-sync.js';

/** A nested payload the receiver validates itself: an object, typed as what the sender meant. */
const obj = <T>() => z.custom<T>((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
const count = z.number().int().nonnegative();
const text = z.string().max(4096);
const ports = z.array(z.number().int().min(0).max(65_535)).max(65_536);

// ---- worker → primary ----

const WorkerBooting = z.object({ type: z.literal('hopgate:worker:booting') });
const WorkerReady = z.object({ type: z.literal('hopgate:worker:ready'), ports, adminPort: z.number().int().min(0).max(65_535).optional() });
const WorkerFailed = z.object({ type: z.literal('hopgate:worker:failed'), error: z.string().max(65_536) });
const ControlApplied = z.object({ type: z.literal('hopgate:control:applied'), revision: z.number().int() });
const ControlResync = z.object({ type: z.literal('hopgate:control:resync') });
const StatsPull = z.object({ type: z.literal('hopgate:stats:pull'), id: count, auth: text, url: z.string().max(65_536) });
const StatsBatch = z.object({
  type: z.literal('hopgate:stats:batch'),
  rows: z.array(z.tuple([z.string(), z.string(), z.string(), z.number(), z.number(), z.number(), z.number()])),
  domains: z.array(z.tuple([z.string(), z.string(), z.string().max(256), z.number(), z.number(), z.number()])).optional(),
  logins: z.array(z.tuple([z.string(), z.string(), z.string().max(64), z.enum(LOGIN_OUTCOMES), z.number()])).optional(),
});
const ProbeReport = z.object({
  id: z.string().max(256),
  minutes: z.array(z.object({ minute: z.string().max(16), ok: z.number().int().nonnegative(), failed: z.number().int().nonnegative(), latencyMsSum: z.number().nonnegative() })).max(2),
  last: z.object({ at: z.string().max(40), ok: z.boolean(), latencyMs: z.number().nullable(), error: z.string().max(64).nullable() }).nullable(),
});
const ExitsDown = z.object({ type: z.literal('hopgate:exits:down'), down: z.array(z.string().max(256)).max(100_000), probes: z.array(ProbeReport).max(100_000).optional() });
const QuotaUsage = z.object({ type: z.literal('hopgate:quota:usage'), usage: z.array(z.tuple([z.string(), z.string(), z.number(), z.number()])) });
const ThrottleEvent = z.object({ kind: z.enum(['fail', 'ok']), source: z.string().max(256), login: z.string().max(256) });
const AuthEvent = z.object({ type: z.literal('hopgate:auth:event'), scope: z.enum(['proxy', 'tunnel']), event: ThrottleEvent });
const LegitEvidence = z.object({ type: z.literal('hopgate:legit:evidence'), counts: z.array(z.tuple([z.string(), z.number()])), attack: z.boolean(), limited: z.number() });
const MetricsPull = z.object({ type: z.literal('hopgate:metrics:pull'), id: count });
// prom-client's getMetricsAsJSON(): one object per metric; aggregated by prom-client in the primary.
const MetricsPart = z.object({ type: z.literal('hopgate:metrics:part'), id: count, metrics: z.array(z.record(z.string(), z.unknown())).max(10_000) });
const exitId = z.string().max(1024);
const ReverseLoad = z.object({
  type: z.literal('hopgate:reverse:load'),
  load: z.number().int(), // less the requests waiting: may go below zero
  received: count,
  open: z.boolean(),
  exits: z.array(z.tuple([exitId, count, count])).max(MAX_REPORTED_EXITS),
});

const WorkerMessageSchema = z.discriminatedUnion('type', [
  WorkerBooting,
  WorkerReady,
  WorkerFailed,
  ControlApplied,
  ControlResync,
  StatsPull,
  StatsBatch,
  ExitsDown,
  QuotaUsage,
  AuthEvent,
  LegitEvidence,
  ReverseLoad,
  MetricsPull,
  MetricsPart,
]);

/** Worker → primary. */
export type WorkerMessage =
  /** Its message handlers are in place (controlled mode: send it the configuration). */
  | z.infer<typeof WorkerBooting>
  /** Serving: the ports it bound (the real ones when the configuration says 0), and its admin port if any. */
  | z.infer<typeof WorkerReady>
  /** It could not start; it exits next. */
  | z.infer<typeof WorkerFailed>
  | z.infer<typeof ControlApplied>
  | z.infer<typeof ControlResync>
  | z.infer<typeof StatsPull>
  | MeterBatchMsg
  /** The exits this worker takes as down (every second; the node reports them with statistics pulls). */
  | ExitHealthMsg
  | QuotaUsageMsg
  | AuthEventMsg
  | LegitimacyEvidenceMsg
  | TunnelLoadMsg
  /** A scrape of the shared admin port reached this worker: the primary gathers every worker's metrics (cluster-metrics.ts). */
  | z.infer<typeof MetricsPull>
  /** This worker's metrics, for a gathering. */
  | z.infer<typeof MetricsPart>;

// ---- primary → worker ----

const ConfigReload = z.object({ type: z.literal('hopgate:config:reload') });
const ControlInit = z.object({
  type: z.literal('hopgate:control:init'),
  revision: z.number().int(),
  config: obj<SnapshotMessage['config']>(),
  overrides: obj<LocalOverrides>(),
  adminPort: z.number().int().min(0).max(65_535),
  nodeId: z.string().optional(),
});
const ControlMsg = z.object({
  type: z.literal('hopgate:control:msg'),
  msg: z.custom<SnapshotMessage | DeltaMessage>((v) => {
    const t = (v as { type?: unknown } | null)?.type;
    return (t === 'snapshot' || t === 'delta') && Number.isInteger((v as { revision?: unknown }).revision);
  }),
});
const StatsAnswer = z.object({ type: z.literal('hopgate:stats:answer'), id: count, status: z.number().int(), body: z.string() });
const LegitRules = z.object({ type: z.literal('hopgate:legit:rules'), msg: obj<RuleMessage>() });
const QuotaOthers = z.object({ type: z.literal('hopgate:quota:others'), others: z.array(z.tuple([z.string(), z.string(), z.number()])) });
const ReverseConn = z.object({ type: z.literal('hopgate:reverse:conn') });
const MetricsCollect = z.object({ type: z.literal('hopgate:metrics:collect'), id: count });
const MetricsAnswer = z.object({ type: z.literal('hopgate:metrics:answer'), id: count, body: z.string().max(64 * 1024 * 1024) });
// 48 bytes in base64, as TLS takes them (any other length throws in createSecureContext).
const ReverseKeys = z.object({ type: z.literal('hopgate:reverse:keys'), ticketKeys: z.string().regex(/^[A-Za-z0-9+/]{64}$/) });
const ReverseHello = z.object({ type: z.literal('hopgate:reverse:hello') });
const ReverseRelease = z.object({ type: z.literal('hopgate:reverse:release'), exit: exitId, min: z.number().int().min(1) });

const PrimaryMessageSchema = z.discriminatedUnion('type', [
  ConfigReload,
  ControlInit,
  ControlMsg,
  StatsAnswer,
  LegitRules,
  QuotaOthers,
  AuthEvent,
  ReverseConn,
  ReverseKeys,
  ReverseHello,
  ReverseRelease,
  MetricsCollect,
  MetricsAnswer,
]);

/** Primary → worker. */
export type PrimaryMessage =
  /** YAML mode: read the file again (SIGHUP or a change to it reached the primary). */
  | z.infer<typeof ConfigReload>
  /** Controlled mode: the configuration to start with. */
  | z.infer<typeof ControlInit>
  /** Controlled mode: a snapshot or delta to apply, then answer applied (or resync). */
  | z.infer<typeof ControlMsg>
  | z.infer<typeof StatsAnswer>
  | LegitimacyRulesMsg
  | QuotaTotalsMsg
  | AuthEventMsg
  | TunnelConnMsg
  | TunnelKeysMsg
  | TunnelHelloMsg
  | TunnelReleaseMsg
  /** Send your metrics (a part) for gathering `id`. */
  | z.infer<typeof MetricsCollect>
  /** The whole ingress's metrics, for the scrape this worker asked about. */
  | z.infer<typeof MetricsAnswer>;

export type WorkerMessageType = WorkerMessage['type'];
export type PrimaryMessageType = PrimaryMessage['type'];

/**
 * A message that came from a worker, or not ok (with why) when it is not one of ours: off the list,
 * or with a handle (node:cluster's) — no worker message takes one; the caller closes it (closeHandle).
 */
export function parseWorkerMessage(m: unknown, handle?: unknown): { ok: true; msg: WorkerMessage } | { ok: false; why: string } {
  const r = WorkerMessageSchema.safeParse(m);
  if (!r.success) return { ok: false, why: describe(m, r.error) };
  return handle == null ? { ok: true, msg: r.data as WorkerMessage } : { ok: false, why: `${r.data.type}: a handle it does not take` };
}

/** Close a handle nobody takes (its message was dropped): it would hold its descriptor (a port, a connection) open. */
export function closeHandle(handle: unknown): void {
  if (typeof handle !== 'object' || handle === null) return;
  const h = handle as { destroy?: () => void; close?: () => void };
  if (typeof h.destroy === 'function') h.destroy(); // a socket
  else if (typeof h.close === 'function') h.close(); // a server, a UDP socket
}

/** The one message that comes with a handle, and the handle it comes with: a tunnel connection's socket. */
const WITH_SOCKET: ReadonlySet<PrimaryMessageType> = new Set(['hopgate:reverse:conn']);

/**
 * A message that came from the primary, with the handle that came with it (node:cluster's), or
 * not ok (with why) when it is not one of ours: off the list, or a socket missing or unasked for.
 */
export function parsePrimaryMessage(m: unknown, handle?: unknown): { ok: true; msg: PrimaryMessage; socket?: Socket } | { ok: false; why: string } {
  const r = PrimaryMessageSchema.safeParse(m);
  if (!r.success) return { ok: false, why: describe(m, r.error) };
  const msg = r.data as PrimaryMessage;
  if (!WITH_SOCKET.has(msg.type)) return handle == null ? { ok: true, msg } : { ok: false, why: `${msg.type}: a handle it does not take` };
  return handle instanceof Socket ? { ok: true, msg, socket: handle } : { ok: false, why: `${msg.type}: no socket with it` };
}

function describe(m: unknown, err: z.ZodError): string {
  const type = (m as { type?: unknown } | null)?.type;
  const issue = err.issues[0];
  return `${typeof type === 'string' ? type.slice(0, 64) : 'no type'}: ${issue ? `${issue.path.join('.') || '(message)'} ${issue.message}` : 'invalid'}`;
}
