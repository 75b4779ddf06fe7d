/**
 * A customer's ports as the control plane sees them: the same port table the
 * ingress serves (src/shared/routing/port-table.ts), computed from the stored
 * exits, settings and the customer's assignment, with health as the ingresses
 * reported it. One PortContext per read of exits and settings serves any
 * number of customers (customers with the same exits and pools share a list).
 */
import { IngressConfigSchema, UserSchema, type IngressConfig } from '../shared/schema/ingress-config.js';
import { ExitIndex } from '../shared/exits/exit-index.js';
import { RouteCompiler } from '../shared/routing/customer-routes.js';
import { portTable, type PortRow, type PortTable } from '../shared/routing/port-table.js';
import { liveExitIds, renderExits, renderUser } from './render.js';
import type { CustomerRecord, ExitRecord } from './store/records.js';

export interface PortContext {
  readonly config: IngressConfig;
  readonly compiler: RouteCompiler;
  readonly liveIds: ReadonlySet<string>;
}

export function portContext(exits: readonly ExitRecord[], settings: Record<string, unknown>): PortContext {
  const config = IngressConfigSchema.parse({ version: 1, ...settings, users: [], exits: renderExits(exits) });
  return { config, compiler: new RouteCompiler(new ExitIndex(config.exits), config), liveIds: liveExitIds(exits) };
}

/** undefined: the customer is not a valid ingress user (it then has no ports at any ingress either). */
export function customerPorts(ctx: PortContext, c: CustomerRecord, isDown: (exitId: string) => boolean): PortTable | undefined {
  const parsed = UserSchema.safeParse(renderUser(c, ctx.liveIds));
  if (!parsed.success) return undefined;
  try {
    const route = ctx.compiler.compile(parsed.data);
    return portTable(route, c.login, ctx.config.listen.ports, (e) => !isDown(e.id));
  } catch {
    return undefined; // an exit listed that is not configured: the ingress refuses the same user
  }
}

/** The key a port's failover state is kept under: `port 8003`, or `index 3` while port routing is off. */
export function portLabel(r: PortRow): string | undefined {
  if (r.port !== null) return `port ${r.port}`;
  if (r.index !== null) return `index ${r.index}`;
  return undefined;
}

/**
 * The exits a customer may order onto their own ports (PUT /v1/me/exits): their list,
 * their pools' exits (as the ingress compiles them), and the operator's extra grant.
 */
export function grantedExitIds(c: CustomerRecord, exits: readonly ExitRecord[]): Set<string> {
  const known = new Set(exits.map((e) => e.id));
  // Neither a list nor pools: the customer has every exit (the ingress's rule), so every exit is granted.
  if (c.exits.length === 0 && c.pools.length === 0) return known;
  const out = new Set<string>([...c.exits, ...c.exitGrant].filter((id) => known.has(id)));
  if (c.pools.length > 0) {
    const ctx = portContext(exits, {});
    const route = ctx.compiler.compile(UserSchema.parse({ login: c.login, passwordHash: '$scrypt$', pools: c.pools }));
    for (let i = 0; i < route.exits.size; i++) out.add(route.exits.at(i)!.id);
  }
  return out;
}
