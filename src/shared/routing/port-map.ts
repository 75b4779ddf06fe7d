/**
 * Port schemes: what an ingress port means to one customer (docs/ROUTING.md).
 *   sequential: base → random; base+i → the i-th exit of the customer's list.
 *   place:      base + k·stride + i, slot k = 0 as sequential; slot k ≥ 1 is the
 *               k-th country of the customer: i = 0 random in it, i ≥ 1 its i-th exit.
 * Pure: numbers in, a slot out.
 */
import type { CustomerRoute } from './customer-routes.js';

export type PortSlot =
  | { readonly kind: 'random' }
  /** 1-based position in the customer's ordered list. */
  | { readonly kind: 'index'; readonly index: number }
  /** 0: random within the country; i ≥ 1: the i-th of the customer's exits there. */
  | { readonly kind: 'place'; readonly country: string; readonly index: number }
  | { readonly kind: 'none'; readonly reason: string };

const RANDOM: PortSlot = Object.freeze({ kind: 'random' });

export function slotForPort(route: CustomerRoute, port: number): PortSlot {
  const base = route.portBase;
  if (base === undefined) return RANDOM;
  const off = port - base;
  const n = route.exits.size;
  if (off < 0) return { kind: 'none', reason: `port ${port} is below your port base ${base}` };
  if (route.scheme === 'sequential') {
    if (off === 0) return RANDOM;
    if (off <= n) return { kind: 'index', index: off };
    return { kind: 'none', reason: `port ${port} is not one of yours: ${base} is random, ${yourExits(base + 1, n)}` };
  }
  const slot = Math.floor(off / route.stride);
  const i = off % route.stride;
  if (slot === 0) {
    if (i === 0) return RANDOM;
    if (i <= n) return { kind: 'index', index: i };
    return { kind: 'none', reason: `port ${port} is not one of yours: ${yourExits(base + 1, n)}` };
  }
  const country = route.places[slot - 1];
  if (country === undefined) {
    return { kind: 'none', reason: `port ${port} is in place slot ${slot}, but you have ${route.places.length} place${route.places.length === 1 ? '' : 's'}` };
  }
  return { kind: 'place', country, index: i };
}

/** First port of a place slot (k ≥ 1), for tables. */
export function placeSlotPort(route: CustomerRoute, k: number): number | undefined {
  return route.portBase === undefined ? undefined : route.portBase + k * route.stride;
}

/** The ports of a customer's `n` exits from `first`, in a sentence that reads right for 0, 1 and more. */
function yourExits(first: number, n: number): string {
  if (n === 0) return 'you have no exits';
  if (n === 1) return `${first} is your exit`;
  return `${rangeText(first, first + n - 1)} are your ${n} exits`;
}

function rangeText(a: number, b: number): string {
  return b < a ? '(none)' : a === b ? `${a}` : `${a}-${b}`;
}
