/**
 * Request and response shapes of the control-plane API, in zod. The same
 * schemas validate requests and generate the OpenAPI document (openapi.ts).
 * Field rules come from the ingress config schema, so what the API accepts is
 * what the rendered ingress configuration can carry.
 *
 * Over 500 lines on purpose: this file is the API's whole contract, read top to
 * bottom by openapi.ts and imported as types by the dashboard's browser build
 * (dashboard/ui/api-types.ts), so that API drift fails that build. Routes keep
 * their behaviour in routes/, never here.
 */
import { z } from 'zod';
import { Cidr, ExitSchema, IngressConfigSchema, ReverseExitSchema, UserSchema } from '../shared/schema/ingress-config.js';

const U = UserSchema.shape;
const E = ExitSchema.shape;
const R = ReverseExitSchema.shape;
const I = IngressConfigSchema.shape;

// Building blocks, without defaults (patches must not fill fields in).
export const Login = U.login;
export const Cidrs = U.sources.unwrap();
export const Place = U.pools.unwrap().element;
export const Bandwidth = U.bandwidth.unwrap();
export const Quota = z
  .object({ bytes: z.number().int().positive(), period: z.enum(['hour', 'day', 'month']).default('month') })
  .strict();
export const Status = z.enum(['active', 'suspended']);
export const PortScheme = U.portScheme.unwrap();
export const Places = U.places.unwrap();
export const PortNumber = z.number().int().min(1).max(65535);
export const ExitId = E.id;
export const Tag = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'tag must be 1-64 of A-Z a-z 0-9 _ . : -');
export const Hop = E.via.unwrap().element;
/** What a hop (and an exit the ingress dials) speaks. */
export const HopKind = E.kind.unwrap();
/** Every kind of exit: the hop kinds, and `reverse` (it dials the ingress; docs/REVERSE-EXITS.md). */
export const ExitKind = z.enum([...HopKind.options, 'reverse']);
export const ReverseTargets = R.targets.unwrap();
export const CountryCode = E.country.unwrap();
export const NodeId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'id must be 1-64 of A-Z a-z 0-9 _ . -');

// ---------- errors

export const ErrorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    /** Request field at fault, as a dotted path (`body.login`), for validation errors. */
    field: z.string().optional(),
  }),
});

// ---------- customers

export const CustomerCreate = z
  .object({
    login: Login,
    status: Status.default('active'),
    sources: Cidrs.default([]),
    sourceAuth: z.boolean().default(false),
    maxConnections: z.number().int().positive().optional(),
    bandwidth: Bandwidth.optional(),
    quota: Quota.optional(),
    exits: z.array(ExitId).default([]),
    pools: z.array(Place).default([]),
    portBase: PortNumber.optional(),
    portScheme: PortScheme.optional(),
    places: Places.optional(),
    /** Answer this customer's HTTP proxy requests with X-Hopgate-Exit (docs/CONTROL.md, Self-service). */
    exitHeader: z.boolean().default(false),
  })
  .strict();
export type CustomerCreateInput = z.output<typeof CustomerCreate>;

/** Every field optional; `null` clears an optional field. The login never changes. */
export const CustomerPatch = z
  .object({
    status: Status.optional(),
    sources: Cidrs.optional(),
    sourceAuth: z.boolean().optional(),
    maxConnections: z.number().int().positive().nullable().optional(),
    bandwidth: Bandwidth.nullable().optional(),
    quota: Quota.nullable().optional(),
    portBase: PortNumber.nullable().optional(),
    portScheme: PortScheme.nullable().optional(),
    places: Places.nullable().optional(),
    exitHeader: z.boolean().optional(),
  })
  .strict();
export type CustomerPatchInput = z.output<typeof CustomerPatch>;

export const Assignment = z
  .object({
    /** Ordered: port base+1 is the first exit. */
    exits: z.array(ExitId).default([]),
    /** Tag filters; matching exits are appended in id order. */
    pools: z.array(Place).default([]),
    /**
     * Exits the customer may also put on their ports (PUT /v1/me/exits) beyond `exits` and the
     * pools' exits; left out: kept as it is.
     */
    grant: z.array(ExitId).max(10_000).optional(),
  })
  .strict();
export type AssignmentInput = z.output<typeof Assignment>;

export const CustomerView = z.object({
  id: z.string(),
  login: z.string(),
  status: Status,
  /** A password is set (it is never returned; rotate to get a new one). */
  passwordSet: z.boolean(),
  passwordChangedAt: z.string().nullable(),
  sources: z.array(z.string()),
  sourceAuth: z.boolean(),
  maxConnections: z.number().nullable(),
  bandwidth: z.object({ upBytesPerSec: z.number().optional(), downBytesPerSec: z.number().optional() }).nullable(),
  quota: z.object({ bytes: z.number(), period: z.enum(['hour', 'day', 'month']) }).nullable(),
  exits: z.array(z.string()),
  pools: z.array(Place),
  portBase: z.number().nullable(),
  portScheme: PortScheme.nullable(),
  places: z.array(z.string()).nullable(),
  /** Set while the control plane finds the quota for the period used across all ingresses: refused with QUOTA_EXCEEDED until then. */
  quotaExceededUntil: z.string().nullable(),
  /** Exits granted beyond `exits` and the pools: the customer may order them onto their ports. */
  exitGrant: z.array(z.string()),
  /** HTTP proxy answers carry X-Hopgate-Exit (the customer opted in; the username flag hdr-1 does it per request). */
  exitHeader: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type CustomerViewT = z.infer<typeof CustomerView>;

export const CustomerList = z.object({
  customers: z.array(CustomerView),
  /** How many match the filters (login, search, status) without limit and offset. */
  total: z.number(),
});
export const CustomerCreated = z.object({
  customer: CustomerView,
  /** Shown once: only its scrypt hash is stored. */
  password: z.string(),
});
export const PasswordIssued = z.object({ password: z.string() });
export const CustomerListQuery = z
  .object({
    login: Login.optional(),
    search: z.string().max(128).optional().describe('part of the login (any case), or the exact id'),
    status: Status.optional(),
    limit: z.coerce.number().int().min(1).max(1000).optional().describe('at most this many, in login order (default: all)'),
    offset: z.coerce.number().int().min(0).max(10_000_000).default(0).describe('skip this many first (needs limit)'),
  })
  .strict()
  // Without a page size an offset would be dropped silently and the client would take page 1 for page N.
  .refine((q) => q.limit !== undefined || q.offset === 0, { message: 'offset needs limit', path: ['offset'] });
export const IdParam = z.object({ id: z.string().min(1).max(128) }).strict();
/** Syntax only: the route applies the self-service bound (tighter than the floor), so a customer reads its own limit. */
export const SourcesBody = z.object({ sources: z.array(Cidr) }).strict();

// ---------- exits

const ExitCommon = {
  /** A drained exit takes no new connections: it is left out of the rendered configuration. */
  drain: z.boolean().default(false),
  /** Free-form operator labels (the place fields are what pools filter on). */
  tags: z.array(Tag).default([]),
};
/** An exit the ingress dials: a hopgate exit, a SOCKS5 or an HTTP CONNECT proxy. */
export const ForwardExitCreate = ExitSchema.extend(ExitCommon).strict();
/** A reverse exit: it dials the ingresses with a token the control plane issues (returned once). */
export const ReverseExitCreate = ReverseExitSchema.omit({ tokenHash: true }).extend(ExitCommon).strict();
export const ExitCreate = z.discriminatedUnion('kind', [ReverseExitCreate, ForwardExitCreate]);
export type ExitCreateInput = z.output<typeof ExitCreate>;
export type ForwardExitCreateInput = z.output<typeof ForwardExitCreate>;

/** Every field optional; `null` clears an optional field. The kind changes only within forward kinds. */
export const ExitPatch = z
  .object({
    kind: HopKind.optional(),
    host: z.string().min(1).optional(),
    port: PortNumber.optional(),
    username: z.string().max(255).nullable().optional(),
    password: z.string().max(255).nullable().optional(),
    egressIp: z.string().nullable().optional(),
    egressIp6: ExitSchema.shape.egressIp6.unwrap().nullable().optional(),
    country: CountryCode.nullable().optional(),
    state: z.string().nullable().optional(),
    city: z.string().nullable().optional(),
    asn: z.number().int().positive().nullable().optional(),
    via: z.array(Hop).optional(),
    drain: z.boolean().optional(),
    tags: z.array(Tag).optional(),
    /** Reverse exits only: sources it may register from (empty: any). */
    from: z.array(Cidr).optional(),
    /** Reverse exits only: work connections it may hold at each ingress. */
    maxConnections: R.maxConnections.unwrap().optional(),
    /** Reverse exits only: what the ingress may hand it; null: what the target policy allows. */
    targets: ReverseTargets.nullable().optional(),
    /** Hopgate exits only: its link port and pinned fingerprint(s), replaced whole; null: SOCKS5 only. */
    link: E.link.unwrap().nullable().optional(),
    /** Reverse exits only: the pinned fingerprint(s) of its link certificate; null: the token alone. */
    linkFingerprint: R.linkFingerprint.unwrap().nullable().optional(),
    nextLinkFingerprint: R.nextLinkFingerprint.unwrap().nullable().optional(),
  })
  .strict();
export type ExitPatchInput = z.output<typeof ExitPatch>;

const HopView = z.object({
  kind: HopKind,
  host: z.string(),
  port: z.number(),
  username: z.string().nullable(),
  passwordSet: z.boolean(),
});

export const ExitView = z.object({
  id: z.string(),
  kind: ExitKind,
  /** Where the ingress dials it; null for a reverse exit (it dials the ingress). */
  host: z.string().nullable(),
  port: z.number().nullable(),
  username: z.string().nullable(),
  /** The upstream password is write-only. */
  passwordSet: z.boolean(),
  egressIp: z.string().nullable(),
  /** IPv6 egress beside egressIp (dual stack); IPv6 targets go only to exits with one. */
  egressIp6: z.string().nullable(),
  country: z.string().nullable(),
  state: z.string().nullable(),
  city: z.string().nullable(),
  asn: z.number().nullable(),
  via: z.array(HopView),
  drain: z.boolean(),
  tags: z.array(z.string()),
  /** Reverse exits: how they register (null for the others). */
  reverse: z
    .object({
      from: z.array(z.string()),
      maxConnections: z.number(),
      targets: z.object({ allow: z.array(z.string()), deny: z.array(z.string()), ports: z.array(z.number()) }).nullable(),
      /** A token is issued (only its hash is stored; POST /v1/exits/{id}/token issues a new one). */
      tokenSet: z.boolean(),
      tokenChangedAt: z.string().nullable(),
    })
    .nullable(),
  /**
   * Links (docs/EXITS.md "Link keys"): the pinned SHA-256 fingerprint of its link certificate and,
   * during a rotation, the next one (accepted beside it until retired); `port` for a hopgate exit
   * (null for a reverse exit, whose links come in on the tunnel port). Null: no pin.
   */
  link: z.object({ port: z.number().nullable(), fingerprint: z.string(), nextFingerprint: z.string().nullable(), tokenSet: z.boolean() }).nullable(),
  /** Customers listing this exit explicitly. */
  customers: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ExitViewT = z.infer<typeof ExitView>;
export const ExitCreated = ExitView.extend({
  /** Reverse exits: the token the exit registers with (`hopgate exit --connect-to … --token-file`). Shown once: only its scrypt hash is stored. */
  token: z.string().optional(),
});
export const ExitToken = z.object({
  /** Shown once; the exit's previous token stops working at every ingress. */
  token: z.string(),
});
export const ExitList = z.object({ exits: z.array(ExitView) });
/** A key rotation's first step: the exit's next certificate, pinned beside the current one. */
export const LinkKeyNext = z.object({ fingerprint: R.linkFingerprint.unwrap() }).strict();
export const ExitLinkToken = z.object({
  /** Shown once (only its sha256 is stored): `hopgate exit --link-listen … --control URL --link-token-file F`. */
  token: z.string(),
});
/** What an exit pins of the ingresses: every registered node's link fingerprints (current and next). */
export const LinkPins = z.object({ fingerprints: z.array(z.string()) });
export const ExitDeleteQuery = z
  .object({ force: z.enum(['true', 'false']).optional().describe('remove the exit from every customer list that names it') })
  .strict();

// ---------- ingress nodes

export const NodeCreate = z.object({ id: NodeId.optional(), name: z.string().min(1).max(255) }).strict();
export const NodePatch = z.object({ name: z.string().min(1).max(255) }).strict();
export const NodeView = z.object({
  id: z.string(),
  name: z.string(),
  lastSeenAt: z.string().nullable(),
  ackedRevision: z.number().nullable(),
  /** An ingress token has been issued (POST /v1/ingress-nodes/{id}/token). */
  tokenSet: z.boolean(),
  /** Where the node answers statistics pulls, as it reported. */
  adminUrl: z.string().nullable(),
  /** When its statistics were last stored. */
  statsPulledAt: z.string().nullable(),
  /** Its link identity as it reported it (exits pin these), a staged next one, and when. */
  linkFingerprint: z.string().nullable(),
  nextLinkFingerprint: z.string().nullable(),
  linkReportedAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type NodeViewT = z.infer<typeof NodeView>;
export const NodeList = z.object({ nodes: z.array(NodeView) });
export const NodeToken = z.object({
  /** Shown once: only its hash is stored. `hopgate ingress --control URL --token-file F`. */
  token: z.string(),
});
export const AckBody = z
  .object({
    revision: z.number().int().nonnegative(),
    adminUrl: z.string().url().max(255).optional(),
    /** This node's link fingerprints: the one it presents, then a staged next one (exits pin both). */
    linkFingerprints: z.array(R.linkFingerprint.unwrap()).min(1).max(2).optional(),
  })
  .strict();
export const StreamQuery = z.object({ revision: z.coerce.number().int().nonnegative().optional().describe('the revision the ingress holds') }).strict();

// ---------- settings: the non-customer, non-exit parts of the ingress configuration

export const SETTING_KEYS = [
  'listen',
  'reverse',
  'routing',
  'proxyProtocol',
  'workers',
  'tls',
  'targetPolicy',
  'egress',
  'limits',
  'log',
  'metrics',
  'protocols',
  'legitimacy',
] as const;
export type SettingKey = (typeof SETTING_KEYS)[number];

/** Each key as in the ingress YAML; `null` removes it (the ingress default applies). */
export const SettingsPatch = z
  .object(Object.fromEntries(SETTING_KEYS.map((k) => [k, I[k].nullable().optional()])) as { [K in SettingKey]: z.ZodOptional<z.ZodNullable<(typeof I)[K]>> })
  .strict();
export const SettingsView = z.object({
  revision: z.number(),
  /** Stored values, as written; absent keys take the ingress defaults. */
  settings: z.record(z.string(), z.unknown()),
});

// ---------- revision and change log

export const ChangeEntry = z.object({
  revision: z.number(),
  seq: z.number(),
  at: z.string(),
  entity: z.enum(['customer', 'exit', 'assignment', 'ingress_node', 'setting']),
  entityId: z.string(),
  op: z.enum(['create', 'update', 'delete']),
  actor: z.string(),
});
export const ChangesQuery = z
  .object({
    since: z.coerce.number().int().nonnegative().default(0).describe('return entries with revision > since'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();
export const ChangesView = z.object({ revision: z.number(), changes: z.array(ChangeEntry) });
export const RevisionView = z.object({ revision: z.number() });

// ---------- self-service

export const Granularity = z.enum(['minute', 'hour', 'day', 'month']);
export const When = z.string().regex(/^\d{4}-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?Z?)?)?)?$/, 'a UTC time: YYYY-MM[-DD[THH[:MM]]]');
export const UsageQuerySchema = z
  .object({
    customer: z.string().min(1).max(128).optional().describe('customer id or login'),
    exit: z.string().max(64).optional().describe("exit id ('' or 'direct' for direct egress)"),
    node: z.string().max(64).optional().describe('ingress node id'),
    by: Granularity.default('hour').describe('period length of each row'),
    from: When.optional().describe('first minute (UTC); default: 60 minutes, 48 hours, 31 days or 12 months back; at most 10,000 periods from `from` to `to` (or now), else 400'),
    to: When.optional().describe('end (exclusive, UTC); default: now'),
    live: z.enum(['true', 'false']).default('true').describe('include the minutes still open on the ingresses'),
  })
  .strict();
export const MyUsageQuery = UsageQuerySchema.pick({ by: true, from: true, to: true });
export const UsageRowView = z.object({
  period: z.string(),
  customerId: z.string(),
  login: z.string(),
  /** '' for direct egress. */
  exitId: z.string(),
  bytesUp: z.number(),
  bytesDown: z.number(),
  connections: z.number(),
  failures: z.number(),
});
const UsageTotals = z.object({ bytesUp: z.number(), bytesDown: z.number(), connections: z.number(), failures: z.number() });
export const UsageList = z.object({ by: Granularity, from: z.string(), to: z.string(), rows: z.array(UsageRowView), totals: UsageTotals });

export const UsageView = z.object({
  customerId: z.string(),
  login: z.string(),
  quota: CustomerView.shape.quota,
  /** The current quota period: bytes used across all ingresses (both directions) and whether it is exceeded. */
  quotaPeriod: z.object({ period: z.string(), used: z.number(), exceededUntil: z.string().nullable() }).nullable(),
  /** Per-period usage (by exit), default by hour over the last 48 hours. */
  usage: z.array(z.object({ period: z.string(), exitId: z.string(), bytesUp: z.number(), bytesDown: z.number(), connections: z.number(), failures: z.number() })),
  note: z.string(),
});

export const MyUsageSeriesQuery = MyUsageQuery.extend({
  range: z
    .string()
    .regex(/^\d{1,4}[mhd]$/, 'a range like 60m, 48h or 30d')
    .optional()
    .describe('how far back from now: 60m, 48h, 30d… (instead of from/to; at most 400 days)'),
  step: Granularity.optional().describe('period of each point of the series (alias of by)'),
}).strict();
const UsagePoint = z.object({ period: z.string(), bytesUp: z.number(), bytesDown: z.number(), connections: z.number(), failures: z.number() });
export const MyUsageView = UsageView.extend({
  quotaPeriod: z
    .object({
      period: z.string(),
      used: z.number(),
      exceededUntil: z.string().nullable(),
      /** used / quota bytes × 100, one decimal. */
      percentUsed: z.number(),
      /** When the period ends and the count starts again (UTC). */
      resetsAt: z.string(),
    })
    .nullable(),
  step: Granularity,
  from: z.string(),
  to: z.string(),
  /** One point per step over the range (every exit summed), empty steps included as zeros. */
  series: z.array(UsagePoint),
});

const PortExitView = z.object({ id: z.string(), egressIp: z.string().nullable(), egressIp6: z.string().nullable(), country: z.string().nullable(), place: z.string() });
export const MyPortsView = z.object({
  login: z.string(),
  scheme: z.enum(['sequential', 'place']),
  portBase: z.number().nullable(),
  /** The ingress's listening ports as the settings say. */
  listen: z.object({ host: z.string(), ports: z.tuple([z.number(), z.number()]) }),
  rows: z.array(
    z.object({
      port: z.number().nullable(),
      index: z.number().nullable(),
      meaning: z.string(),
      exit: PortExitView.nullable(),
      /** up | down | replaced | drained, or for a random row "N/M up". */
      state: z.string(),
      /** up | down | draining as the control plane knows it (ingress reports, the drain flag); null for random rows. */
      health: z.enum(['up', 'down', 'draining']).nullable(),
      servedBy: PortExitView.nullable(),
      replacement: z.boolean(),
      listening: z.boolean(),
    }),
  ),
  note: z.string(),
});

export const MyConnectQuery = z
  .object({
    withPassword: z.enum(['0', '1']).default('0').describe('1: put the password of this request in the snippets (default: the placeholder PASSWORD)'),
    port: z.coerce.number().int().min(1).max(65_535).optional().describe('the ingress port to connect to (default: your base port, a random exit)'),
  })
  .strict();
export const MyConnectView = z.object({
  host: z.string(),
  port: z.number(),
  login: z.string(),
  passwordShown: z.boolean(),
  proxies: z.object({ http: z.string(), socks5h: z.string(), https: z.string().nullable() }),
  snippets: z.object({
    curlSocks5h: z.string(),
    curlHttp: z.string(),
    curlHttps: z.string().nullable(),
    pythonRequests: z.string(),
    nodeUndici: z.string(),
    playwright: z.string(),
  }),
  note: z.string(),
});

export const NoticeView = z.object({
  id: z.string(),
  kind: z.enum(['failover', 'restored', 'exit_removed']),
  port: z.number().nullable(),
  portLabel: z.string().nullable(),
  exitId: z.string().nullable(),
  replacementId: z.string().nullable(),
  reason: z.string().nullable(),
  message: z.string(),
  /** Further transitions of the same port folded into this notice (a flapping exit). */
  repeats: z.number(),
  createdAt: z.string(),
  updatedAt: z.string(),
  readAt: z.string().nullable(),
});
export const NoticesQuery = z
  .object({
    unread: z.enum(['true', 'false']).default('false'),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();
export const NoticesView = z.object({ notices: z.array(NoticeView), unread: z.number() });
export const NoticesReadBody = z.union([z.object({ ids: z.array(z.string().max(64)).min(1).max(500) }).strict(), z.object({ all: z.literal(true) }).strict()]);
export const NoticesReadView = z.object({ marked: z.number() });

export const MyExitsBody = z.object({ exits: z.array(ExitId).min(1).max(10_000) }).strict();
export const MyExitsView = z.object({
  exits: z.array(z.string()),
  /** Every exit you may put on your ports (your list, your pools' exits, and what the operator granted). */
  granted: z.array(z.string()),
});
export const MePatch = z.object({ exitHeader: z.boolean() }).strict();

export const HealthView = z.object({ ok: z.boolean(), revision: z.number() });

// ---------- source legitimacy (docs/LEGITIMACY.md)

/** POST /v1/stream/legitimacy (ingress token): evidence reports (checked one by one), rule ACKs, the ingress's state. */
export const LegitimacyPost = z
  .object({
    reports: z.array(z.unknown()).max(64).optional().describe('evidence reports (src/legitimacy/evidence.ts EvidenceReport), oldest first'),
    acks: z
      .array(z.object({ v: z.literal(1), type: z.literal('legitimacy.ack'), ingressId: z.string().max(64), revision: z.number(), ok: z.boolean(), reason: z.string().max(500).optional() }))
      .max(256)
      .optional(),
    status: z
      .object({ attack: z.boolean(), rulesActive: z.boolean(), suspended: z.boolean(), revision: z.number(), reason: z.string().max(500), limited: z.number() })
      .optional(),
  })
  .strict();
export const LegitimacyPostAnswer = z.object({
  acked: z.array(z.object({ ingressId: z.string(), epoch: z.number(), seq: z.number() })).describe('reports the control plane has: stop resending them'),
  enabled: z.boolean(),
});
export const LegitimacyEventKind = z.enum(['route-withdrawn', 'route-announced', 'transit-change', 'maintenance', 'ingress-down', 'ingress-up', 'other']);
export const LegitimacyEvent = z
  .object({
    kind: LegitimacyEventKind.describe('what happened in the network; every kind suspends the rules of the whole group'),
    ingress: NodeId.optional().describe('the ingress concerned (required for ingress-down and ingress-up)'),
    reason: z.string().max(200).optional(),
    holdMs: z.number().int().min(0).max(86_400_000).optional().describe('keep the rules suspended at least this long'),
  })
  .strict()
  .refine((e) => (e.kind !== 'ingress-down' && e.kind !== 'ingress-up') || e.ingress !== undefined, { message: 'ingress is required for ingress-down and ingress-up', path: ['ingress'] });
export const LegitimacyIngressView = z.object({
  id: z.string(),
  /** Holds a config stream on this control-plane process. */
  connected: z.boolean(),
  /** Counted as down by the analysis (stream gone, silent, or announced). */
  down: z.boolean(),
  /** Last rule-set revision sent, and the last one the ingress acknowledged. */
  revision: z.number(),
  ackedRevision: z.number(),
  nacks: z.number(),
  calmReports: z.number(),
  /** Entries of the candidate rules for this ingress. */
  ruleEntries: z.number(),
  /** As the ingress last said: attack mode, rules in force, suspended, limited decisions. */
  attack: z.boolean().nullable(),
  rulesActive: z.boolean().nullable(),
  suspended: z.boolean().nullable(),
  limited: z.number().nullable(),
  lastReportAt: z.string().nullable(),
});
export const LegitimacyView = z.object({
  enabled: z.boolean(),
  group: z.string(),
  mode: z.enum(['warmup', 'active', 'suspended']),
  reason: z.string(),
  /** Since when the rules are suspended (null when not). */
  suspendedSince: z.string().nullable(),
  prefixes: z.number(),
  rows: z.number(),
  stats: z.record(z.string(), z.number()),
  options: z.record(z.string(), z.unknown()),
  ingresses: z.array(LegitimacyIngressView),
});
