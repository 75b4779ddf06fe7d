/** `hopgate control --help`, apart from control.ts so printing it does not load the control plane. */
import { DEFAULT_CONTROL_HOST, DEFAULT_CONTROL_PORT } from '../control/defaults.js';

export const CONTROL_USAGE = `usage: hopgate control [--db sqlite:PATH | postgres://USER@HOST/DB[?schema=S]] [--listen HOST:PORT]
                       [--state-dir DIR] [--json] [--log-level LEVEL]

  --db         the asset store (default: sqlite:<state-dir>/control.sqlite)
  --listen     the API address (default ${DEFAULT_CONTROL_HOST}:${DEFAULT_CONTROL_PORT})
  --state-dir  where the SQLite file and the operator token live (default .hopgate)
  --json       print one JSON line {url, db, tokenFile, revision, migrations} once listening
  --db-wait-ms N  how long a request waits for a locked SQLite file or an unreachable PostgreSQL
               before answering 503 database_unavailable with Retry-After (default 2000; 1-2147483647)
  --stats-interval-ms N  how often subscribed ingresses are pulled for statistics and quotas checked
               (default 5000; 100-2147483647)
  --health-history-days N       keep exit health history (up/down transitions, probes per minute) N days (default 30)
  --stats-retention-days N  keep login records and per-domain usage this many days (default 30)
  --legitimacy-group NAME       anycast group of this control plane's ingresses (default 'default'; docs/LEGITIMACY.md)
  --legitimacy-interval-ms N    analysis round and the ingresses' report interval (default 10000; 100-2147483647)
  --legitimacy-half-life-h H    half-life of the learned history (default 6)
  --legitimacy-warmup-min M     learning before the first rules (default 360)
  --no-legitimacy               run no legitimacy analysis (reports are acknowledged and dropped)
  --self-service-prefix V4,V6   broadest source range a customer may set itself (default 24,48; at most 8,16)
  --public-host HOST            the host customers reach the ingresses at, in GET /v1/me/connect snippets
                                (default: the ingress listen host unless it is a wildcard)
  --nats-url nats://HOST:PORT   also publish every event to NATS JetStream (docs/EVENTS.md; off by default)
  --nats-creds FILE             NATS credentials file; or --nats-user NAME with HOPGATE_NATS_PASSWORD
  --nats-stream NAME            stream ensured on start (default HOPGATE_EVENTS, file storage)
  --nats-subject-prefix P       events go to P.<kind> (default hopgate.events)
  --nats-requests               also take change messages in: the REST operations from JetStream subjects
                                hopgate.requests.<operationId>, answered on Hopgate-Reply-To (docs/EVENTS.md)
The operator token is HOPGATE_ADMIN_TOKEN, or made once in <state-dir>/control-admin-token (mode 0600).
`;
