/**
 * Logs and metrics for the ingress, fed by diagnostic channels so the byte
 * path never formats a log line or touches a metric directly.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { registerLinkMetrics } from './upstream/link-metrics.js';
import { mirroredCounter } from '../shared/mirrored-counter.js';
import { channels, subscribeFrom, type AdmissionRejectMessage, type AuthFailMessage, type UserRefuseMessage } from '../shared/events.js';
import type { SessionCloseMessage } from './session.js';
import type { Logger } from '../shared/log.js';
import type { IngressRuntime } from './runtime.js';

export function createIngressMetrics(rt: IngressRuntime, registry = new Registry()) {
  registerLinkMetrics(registry, rt.links);
  const sessions = new Counter({ name: 'hopgate_ingress_sessions_total', help: 'Closed client connections by protocol and result', labelNames: ['protocol', 'result'], registers: [registry] });
  const bytes = new Counter({ name: 'hopgate_ingress_bytes_total', help: 'Relayed bytes by direction', labelNames: ['direction'], registers: [registry] });
  const authFailures = new Counter({ name: 'hopgate_ingress_auth_failures_total', help: 'Authentication failures by code', labelNames: ['code'], registers: [registry] });
  const rejected = new Counter({ name: 'hopgate_ingress_admission_rejected_total', help: 'Connections dropped before the first byte', labelNames: ['reason'], registers: [registry] });
  const routes = new Counter({ name: 'hopgate_ingress_route_decisions_total', help: 'Connections of authenticated customers by how their exit was chosen (exitip, port, index, replacement, sticky, random; direct: routing chose no exit; refused: no exit could be chosen, e.g. NO_EXIT_MATCH)', labelNames: ['reason'], registers: [registry] });
  const refused = new Counter({ name: 'hopgate_ingress_refused_total', help: 'Authenticated customers refused by a limit, by code (USER_SUSPENDED, QUOTA_EXCEEDED, CONN_LIMIT)', labelNames: ['code'], registers: [registry] });
  // Figures the guards keep as plain numbers (the byte path never touches a metric), read at scrape time.
  mirroredCounter(registry, 'hopgate_ingress_bandwidth_waits_total', 'Times a connection paused for its customer\'s bandwidth tokens, by direction', 'direction', () => {
    const s = rt.bandwidth.stats();
    return { up: s.waitsUp, down: s.waitsDown };
  });
  mirroredCounter(registry, 'hopgate_ingress_bandwidth_udp_dropped_total', 'UDP datagrams dropped over the customer\'s bandwidth, by direction', 'direction', () => {
    const s = rt.bandwidth.stats();
    return { up: s.dropsUp, down: s.dropsDown };
  });
  mirroredCounter(registry, 'hopgate_ingress_udp_refused_total', 'UDP datagrams a customer sent to a port or literal address the target policy forbids (or a reverse exit\'s targets rule): dropped before the customer\'s rate limit and bill', undefined, () => ({ total: rt.udp.refused }));
  mirroredCounter(registry, 'hopgate_ingress_udp_too_large_total', 'UDP datagrams dropped, not billed, because one datagram on their next leg cannot carry them with their SOCKS5 header, by direction (down: a target\'s largest replies to the customer; up: to a SOCKS5 exit\'s relay)', 'direction', () => ({ ...rt.udp.tooLarge }));
  mirroredCounter(registry, 'hopgate_ingress_quota_cutoffs_total', 'Open connections cut because the customer\'s data quota ran out', undefined, () => ({ '': rt.quota.stats.sessionsCut }));
  legitimacyMetrics(rt, registry);
  new Gauge({ name: 'hopgate_ingress_active_sessions', help: 'Open client connections', registers: [registry], collect() { this.set(rt.limiter.active); } });
  // Across worker processes (processes/cluster-metrics.ts): the revision every worker has, not a sum.
  new Gauge({ name: 'hopgate_config_revision', help: 'Revision of the configuration in force', aggregator: 'min', registers: [registry], collect() { this.set(rt.snapshot.revision); } });
  new Gauge({
    name: 'hopgate_ingress_exit_quality_score',
    help: 'Exit quality score 0-100 from probes and connection outcomes (docs/ROUTING.md); exits not yet measured are absent',
    labelNames: ['exit'],
    aggregator: 'average', // each worker scores from what it saw
    registers: [registry],
    collect() {
      this.reset(); // exits removed by a reload must not linger
      for (const e of rt.snapshot.exits.all) {
        const q = rt.exitHealth.quality.score(e.id);
        if (q !== undefined) this.set({ exit: e.id }, q);
      }
    },
  });
  new Gauge({ name: 'hopgate_ingress_auth_throttled_sources', help: 'Auth-failure records held (per source and per source and login)', registers: [registry], collect() { this.set(rt.auth.throttle.tracked); } });

  const onClose = ({ session }: SessionCloseMessage): void => {
    sessions.inc({ protocol: session.protocol ?? 'none', result: session.result ?? 'CLIENT_CLOSED' });
    if (session.principal && session.target) routes.inc({ reason: session.routeReason ?? 'refused' });
    if (session.counters.up) bytes.inc({ direction: 'up' }, session.counters.up);
    if (session.counters.down) bytes.inc({ direction: 'down' }, session.counters.down);
  };
  const stops = [
    subscribeFrom(channels.sessionClose, rt, onClose),
    subscribeFrom<AuthFailMessage>(channels.authFail, rt, (m) => authFailures.inc({ code: m.code ?? 'INTERNAL' })),
    subscribeFrom<AdmissionRejectMessage>(channels.admissionReject, rt, (m) => rejected.inc({ reason: m.reason })),
    subscribeFrom<UserRefuseMessage>(channels.userRefuse, rt, (m) => refused.inc({ code: m.code })),
  ];
  return {
    registry,
    stop(): void {
      for (const stop of stops) stop();
    },
  };
}

/**
 * Source legitimacy (docs/LEGITIMACY.md), read from the gate at scrape time; no series move
 * while the ingress has no gate (not fed by a control plane, or `legitimacy.enabled: false`).
 */
const NONE: Record<string, number> = Object.freeze({});

function legitimacyMetrics(rt: IngressRuntime, registry: Registry): void {
  const last = new Map<string, number>();
  new Counter({
    name: 'hopgate_legitimacy_decisions_total',
    help: 'Admission decisions by kind (conn, udp), source class (normal: outside attack mode, not classified; inactive: attack mode without rules in force; established: datagram of an authenticated association) and outcome (allowed, limited)',
    labelNames: ['kind', 'class', 'outcome'],
    registers: [registry],
    collect() {
      const gate = rt.legitimacy;
      if (!gate) return;
      const en = gate.enforcer;
      const add = (kind: string, cls: string, outcome: string, total: number): void => {
        const key = `${kind}|${cls}|${outcome}`;
        const delta = total - (last.get(key) ?? 0);
        if (delta <= 0) return;
        last.set(key, total);
        this.inc({ kind, class: cls, outcome }, delta);
      };
      const unchecked = en.uncheckedCounts();
      for (const [kind, byClass] of Object.entries(en.counters())) {
        add(kind, 'normal', 'allowed', unchecked[kind as 'conn' | 'udp']);
        for (const [cls, c] of Object.entries(byClass)) {
          add(kind, cls, 'allowed', c.allowed);
          add(kind, cls, 'limited', c.limited);
        }
      }
    },
  });
  // Across worker processes: the state of the most affected one ('max'), the rule set every one has ('min').
  const gauge = (name: string, help: string, read: (g: NonNullable<IngressRuntime['legitimacy']>) => number, aggregator: 'max' | 'min' = 'max'): void => {
    new Gauge({
      name,
      help,
      aggregator,
      registers: [registry],
      collect() {
        const gate = rt.legitimacy;
        if (!gate) return;
        gate.advance();
        this.set(read(gate));
      },
    });
  };
  gauge('hopgate_legitimacy_attack_mode', 'An ingress process is in attack mode (1) or none is (0)', (g) => (g.enforcer.attackMode ? 1 : 0));
  gauge('hopgate_legitimacy_rules_active', 'Rules in force (received, not expired, not suspended): 1, else 0 (fail open)', (g) => (g.enforcer.rulesActive() ? 1 : 0), 'min');
  gauge('hopgate_legitimacy_rules_suspended', 'The rule set in force is a suspension (a network event): 1, else 0', (g) => (g.enforcer.state().suspended ? 1 : 0));
  gauge('hopgate_legitimacy_rules_revision', 'Revision of the rule set in force (0: none)', (g) => g.enforcer.state().revision, 'min');
  gauge('hopgate_legitimacy_rules_entries', 'CIDR entries of the rule set in force', (g) => g.enforcer.state().entries);
  mirroredCounter(registry, 'hopgate_legitimacy_attack_entries_total', 'Times this process entered attack mode', undefined, () => (rt.legitimacy ? { '': rt.legitimacy.enforcer.detector.entries } : NONE));
  mirroredCounter(registry, 'hopgate_legitimacy_evidence_flows_total', 'Accepted (authenticated) flows recorded as evidence by this process', undefined, () => (rt.legitimacy ? { '': rt.legitimacy.recorded } : NONE));
  mirroredCounter(registry, 'hopgate_legitimacy_rule_messages_total', 'Rule sets and refreshes from the control plane, by answer (ack, nack)', 'answer', () =>
    rt.legitimacy ? { ack: rt.legitimacy.enforcer.applyStats.acks, nack: rt.legitimacy.enforcer.applyStats.nacks } : NONE,
  );
  new Gauge({
    name: 'hopgate_legitimacy_baseline_per_second',
    help: 'Attack-mode detector baselines by signal (conn, udp, authFail)',
    labelNames: ['signal'],
    registers: [registry],
    collect() {
      const gate = rt.legitimacy;
      if (!gate) return;
      for (const [signal, v] of Object.entries(gate.enforcer.state().baselines)) this.set({ signal }, v);
    },
  });
}

/**
 * One access-log line per connection (customer, target, bytes, duration, result); can be switched off.
 * `origin`: only that ingress runtime's sessions (undefined: every ingress in the process).
 */
export function subscribeAccessLog(log: Logger, enabled: () => boolean, origin?: object): () => void {
  const onClose = ({ session: x }: SessionCloseMessage): void => {
    if (!enabled()) return;
    log.info(
      {
        id: x.id,
        src: `${x.source}:${x.sourcePort}`,
        port: x.port,
        proto: x.protocol,
        user: x.principal?.user.login,
        cmd: x.command,
        target: x.target ? `${x.target.host}:${x.target.port}` : undefined,
        exit: x.exitId,
        up: x.counters.up,
        down: x.counters.down,
        ms: Date.now() - x.startedAt,
        result: x.result ?? 'CLIENT_CLOSED',
        reason: x.result !== 'ok' ? x.resultMessage : undefined,
      },
      'session',
    );
  };
  const onAuthFail = (a: AuthFailMessage): void => {
    log.warn({ src: a.source, user: a.username?.slice(0, 64), code: a.code, reason: a.reason }, 'auth failed');
  };
  const stops = [subscribeFrom(channels.sessionClose, origin, onClose), subscribeFrom(channels.authFail, origin, onAuthFail)];
  return () => {
    for (const stop of stops) stop();
  };
}
