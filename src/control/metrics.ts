/** Prometheus metrics of one control-plane process (GET /metrics). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createControlMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'hopgate_control_process_' });
  return {
    registry,
    apiRequests: new Counter({ name: 'hopgate_control_api_requests_total', help: 'API requests by method, route and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    apiSeconds: new Histogram({ name: 'hopgate_control_api_request_seconds', help: 'API request duration', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    revision: new Gauge({ name: 'hopgate_control_revision', help: 'Configuration revision this process has caught up with', registers: [registry] }),
    subscribers: new Gauge({ name: 'hopgate_control_stream_subscribers', help: 'Ingresses subscribed to the config stream on this process', registers: [registry] }),
    messages: new Counter({ name: 'hopgate_control_stream_messages_total', help: 'Config stream messages sent, by type', labelNames: ['type'], registers: [registry] }),
    deltaSeconds: new Histogram({ name: 'hopgate_control_stream_delta_seconds', help: 'Time to compute and send one delta (after reading the change)', buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5], registers: [registry] }),
    snapshotBytes: new Gauge({ name: 'hopgate_control_stream_snapshot_bytes', help: 'Size of the current full snapshot line', registers: [registry] }),
    pullSeconds: new Histogram({ name: 'hopgate_control_stats_pull_seconds', help: 'Statistics pull from one ingress, fetch and write', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
    pullFailures: new Counter({ name: 'hopgate_control_stats_pull_failures_total', help: 'Failed statistics pulls, by stage (fetch, status, write)', labelNames: ['stage'], registers: [registry] }),
    records: new Counter({ name: 'hopgate_control_stats_records_total', help: 'Statistics records pulled, by outcome (stored, skipped as already stored)', labelNames: ['outcome'], registers: [registry] }),
    quotaExceeded: new Gauge({ name: 'hopgate_control_quota_exceeded_customers', help: 'Customers flagged over quota at the last check', registers: [registry] }),
    quotaChanges: new Counter({ name: 'hopgate_control_quota_flag_changes_total', help: 'Over-quota flags set or cleared by this process', registers: [registry] }),
    jsPublished: new Counter({ name: 'hopgate_control_jetstream_published_total', help: 'Outbox events acked by JetStream (a duplicate the stream dropped counts too)', registers: [registry] }),
    jsFailures: new Counter({ name: 'hopgate_control_jetstream_publish_failures_total', help: 'Outbox events whose publish was not acked (retried with back-off)', registers: [registry] }),
    jsSeconds: new Histogram({ name: 'hopgate_control_jetstream_delivery_seconds', help: 'From the event written to the outbox to its JetStream ack', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60], registers: [registry] }),
    natsRequests: new Counter({ name: 'hopgate_control_nats_requests_total', help: 'Change messages taken from JetStream, by outcome (applied, read, refused, replayed, rejected, retried, in_doubt)', labelNames: ['outcome'], registers: [registry] }),
    jsBacklog: new Gauge({ name: 'hopgate_control_jetstream_backlog_events', help: 'Outbox events not yet acked by JetStream (at the last round)', registers: [registry] }),
  };
}

export type ControlMetrics = ReturnType<typeof createControlMetrics>;
