/** Which page the hash names (pure): #customers, #customer/<id>, #exit/<id>…; a customer always gets #me. */
export type View =
  | { page: 'overview' | 'customers' | 'exits' | 'usage' | 'me' }
  | { page: 'customer'; id: string }
  | { page: 'exit'; id: string };
export const OPERATOR_NAV = ['overview', 'customers', 'exits', 'usage'] as const;

export function viewOf(hash: string, kind: 'operator' | 'customer'): View {
  if (kind === 'customer') return { page: 'me' };
  const h = hash.replace(/^#/, '');
  const detail = /^(customer|exit)\/(.{1,128})$/.exec(h);
  if (detail) {
    let id: string;
    try {
      id = decodeURIComponent(detail[2]!);
    } catch {
      return { page: 'overview' };
    }
    return { page: detail[1] as 'customer' | 'exit', id };
  }
  return (OPERATOR_NAV as readonly string[]).includes(h) ? { page: h as (typeof OPERATOR_NAV)[number] } : { page: 'overview' };
}

/** The nav entry a page belongs to (a customer's page is under Customers). */
export function navOf(v: View): string {
  return v.page === 'customer' ? 'customers' : v.page === 'exit' ? 'exits' : v.page;
}
