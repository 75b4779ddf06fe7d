/**
 * The ingress's copy of the control plane's configuration: the rendered
 * input (settings, exits, users by login) and its parsed form. A delta
 * re-parses only what it carries and keeps every other parsed object — the
 * same user objects, the same exit list — so compileSnapshot reuses their
 * compiled forms: one changed customer recompiles one customer.
 *
 * Local overrides (the admin address) are laid over every result.
 */
import { z } from 'zod';
import type { Logger } from '../../shared/log.js';
import { readStateFile, writeFileAtomicAsync, type StateDir } from '../../shared/state-file.js';
import { IngressConfigSchema, UserSchema, type IngressConfig, type UserConfig } from '../../shared/schema/ingress-config.js';
import type { ConfigObject, DeltaMessage, SnapshotMessage } from '../../shared/control-protocol.js';

export interface LocalOverrides {
  /** Admin server (/metrics, /healthz, statistics pulls) of this node, whatever the control plane's settings say. */
  readonly metrics?: { host: string; port: number };
  /**
   * This node's side of links (issue 19): its identity dir (a controlled ingress keeps it in its
   * state dir) and links per exit. Which exits have a link, and their pinned certificates, come
   * from the control plane's exit inventory (exits[].link).
   */
  readonly links?: {
    readonly identityDir: string;
    readonly perExit?: number;
  };
}

interface UserEntry {
  readonly json: string;
  readonly input: ConfigObject;
  readonly parsed: UserConfig;
}

/** What is kept on disk: enough to boot when the control plane cannot be reached. */
export interface SavedSnapshot {
  readonly format: 1;
  readonly revision: number;
  readonly node: string | undefined;
  readonly controlUrl: string | undefined;
  readonly savedAt: string;
  readonly config: ConfigObject & { users: ConfigObject[]; exits: ConfigObject[] };
}

export class ControlConfigState {
  revision = -1;
  private settings: ConfigObject = {};
  private exitsInput: ConfigObject[] = [];
  private users = new Map<string, UserEntry>();
  private base: IngressConfig | undefined;
  private usersArray: UserConfig[] | undefined;

  constructor(private readonly overrides: LocalOverrides = {}) {}

  get ready(): boolean {
    return this.base !== undefined;
  }

  /** Replace everything (users whose input is unchanged keep their parsed object). Throws on an invalid document. */
  applySnapshot(m: Pick<SnapshotMessage, 'revision' | 'config'>): IngressConfig {
    const { users: inputs, exits, version: _v, ...settings } = m.config;
    const base = parseBase(settings, exits ?? []);
    const next = new Map<string, UserEntry>();
    for (const input of inputs ?? []) {
      const login = String(input.login);
      if (next.has(login)) throw new Error(`users: login '${login}' appears twice`);
      const json = JSON.stringify(input);
      const old = this.users.get(login);
      next.set(login, old?.json === json ? old : { json, input, parsed: UserSchema.parse(input) });
    }
    // Keep the exit list object when it did not change, so compiled users are reused.
    const sameExits = this.base !== undefined && JSON.stringify(exits ?? []) === JSON.stringify(this.exitsInput);
    this.base = sameExits ? { ...base, exits: this.base!.exits } : base;
    this.settings = settings;
    this.exitsInput = exits ?? [];
    this.users = next;
    this.usersArray = undefined;
    this.revision = m.revision;
    return this.config();
  }

  /** Apply a delta; undefined when it does not follow the revision held (ask for a snapshot). Throws on invalid content. */
  applyDelta(m: DeltaMessage): IngressConfig | undefined {
    if (!this.base || m.from !== this.revision) return undefined;
    let base = this.base;
    if (m.settings || m.exits) {
      base = parseBase(m.settings ?? this.settings, m.exits ?? this.exitsInput);
      if (!m.exits) base = { ...base, exits: this.base.exits };
    }
    let users = this.users;
    if (m.users && (m.users.upsert.length > 0 || m.users.delete.length > 0)) {
      const parsed = m.users.upsert.map((input) => ({ json: JSON.stringify(input), input, parsed: UserSchema.parse(input) }));
      users = new Map(this.users);
      for (const login of m.users.delete) users.delete(login);
      for (const u of parsed) users.set(u.parsed.login, u);
      this.usersArray = undefined;
    }
    this.base = base;
    if (m.settings) this.settings = m.settings;
    if (m.exits) this.exitsInput = m.exits;
    this.users = users;
    this.revision = m.revision;
    return this.config();
  }

  /** The configuration in force (with the local overrides). */
  config(): IngressConfig {
    if (!this.base) throw new Error('no configuration yet');
    this.usersArray ??= [...this.users.values()].map((u) => u.parsed);
    return { ...this.base, users: this.usersArray, ...(this.overrides.metrics ? { metrics: this.overrides.metrics } : {}), ...this.linkOverride(this.base) };
  }

  /** The node-local side of links laid over the control plane's settings (its heartbeat and perExit stand unless given here). */
  private linkOverride(base: IngressConfig): Partial<IngressConfig> {
    const l = this.overrides.links;
    if (!l) return {};
    return { links: { identityDir: l.identityDir, perExit: l.perExit ?? base.links?.perExit ?? 2, heartbeatMs: base.links?.heartbeatMs ?? 10_000 } };
  }

  /** The rendered input as the control plane sent it (for the disk copy and for worker processes). */
  input(): SnapshotMessage['config'] {
    return { version: 1, ...this.settings, users: [...this.users.values()].map((u) => u.input), exits: this.exitsInput };
  }

  saved(node: string | undefined, controlUrl: string | undefined): SavedSnapshot {
    return { format: 1, revision: this.revision, node, controlUrl, savedAt: new Date().toISOString(), config: this.input() };
  }
}

function parseBase(settings: ConfigObject, exits: ConfigObject[]): IngressConfig {
  return IngressConfigSchema.parse({ version: 1, ...settings, exits, users: [] });
}

export const SNAPSHOT_FILE = 'control-snapshot.json';

/** The shape checked on read; the configuration itself is checked by applySnapshot (a failure there counts as corrupt too). */
const SavedSnapshotSchema = z.object({
  format: z.literal(1),
  revision: z.number().int(),
  node: z.string().optional(),
  controlUrl: z.string().optional(),
  savedAt: z.string(),
  config: z.looseObject({ users: z.array(z.record(z.string(), z.unknown())), exits: z.array(z.record(z.string(), z.unknown())) }),
});

/** Keep the snapshot in the state dir (atomic, durable, 0600: it holds password hashes and exit credentials). False when the dir cannot take it. */
export function writeSavedSnapshot(dir: StateDir, saved: SavedSnapshot): Promise<boolean> {
  const body = JSON.stringify(saved);
  return dir.attemptAsync(SNAPSHOT_FILE, () => writeFileAtomicAsync(dir.path(SNAPSHOT_FILE), body));
}

/** The snapshot kept on disk, or undefined (absent, or corrupt: then moved aside and logged). */
export function readSavedSnapshot(dir: StateDir, log?: Logger): SavedSnapshot | undefined {
  const r = readStateFile(dir.path(SNAPSHOT_FILE), SavedSnapshotSchema, log, 'saved control-plane snapshot');
  return r.status === 'ok' ? (r.value as SavedSnapshot) : undefined;
}
