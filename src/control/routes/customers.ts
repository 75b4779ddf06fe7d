/**
 * Customers (operator): records, credentials and their exit assignment.
 */
import * as S from '../api-schemas.js';
import { ControlStore } from '../store/index.js';
import { actorOf, mustCustomer, newPassword, route, type ControlServerOptions, type Route } from './route.js';

export function customerRoutes(o: ControlServerOptions): Route[] {
  const store = o.store;
  const view = ControlStore.view;
  return [
    route(
      { method: 'GET', path: '/v1/customers', auth: 'operator', operationId: 'listCustomers', summary: 'List customers (by login, a search, a status; a page with limit and offset)', tag: 'customers', query: S.CustomerListQuery, status: 200, response: { description: 'customers by login', schema: S.CustomerList } },
      async ({ query }) => {
        const filter = {
          ...(query.login !== undefined ? { login: query.login } : {}),
          ...(query.search !== undefined ? { search: query.search } : {}),
          ...(query.status !== undefined ? { status: query.status } : {}),
        };
        const customers = await store.listCustomers(query.limit !== undefined ? { ...filter, limit: query.limit, offset: query.offset } : filter);
        const total = query.limit === undefined ? customers.length : await store.countCustomers(filter);
        return { customers: customers.map(view), total };
      },
    ),
    route(
      { method: 'POST', path: '/v1/customers', auth: 'operator', operationId: 'createCustomer', summary: 'Create a customer; the generated password is in this answer only', tag: 'customers', body: S.CustomerCreate, status: 201, response: { description: 'created', schema: S.CustomerCreated }, errors: [409] },
      async ({ body, principal }) => {
        const { password, hash } = await newPassword(o);
        const c = await store.createCustomer(body, hash, actorOf(principal));
        return { customer: view(c), password };
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id', auth: 'operator', operationId: 'getCustomer', summary: 'One customer', tag: 'customers', params: S.IdParam, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params }) => view(await mustCustomer(store, params.id)),
    ),
    route(
      { method: 'PATCH', path: '/v1/customers/:id', auth: 'operator', operationId: 'updateCustomer', summary: 'Change status, sources, limits or port routing (null clears a field)', tag: 'customers', params: S.IdParam, body: S.CustomerPatch, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params, body, principal }) => {
        const c = await store.updateCustomer(params.id, body, actorOf(principal));
        if (body.quota !== undefined && o.collector) {
          await o.collector.enforceQuotas(); // a raised quota restores service now, a lowered one cuts now
          return view((await store.getCustomer(params.id)) ?? c);
        }
        return view(c);
      },
    ),
    route(
      { method: 'DELETE', path: '/v1/customers/:id', auth: 'operator', operationId: 'deleteCustomer', summary: 'Delete a customer', tag: 'customers', params: S.IdParam, status: 204, response: { description: 'deleted' }, errors: [404] },
      async ({ params, principal }) => store.deleteCustomer(params.id, actorOf(principal)),
    ),
    route(
      { method: 'POST', path: '/v1/customers/:id/credentials/rotate', auth: 'operator', operationId: 'rotateCustomerPassword', summary: 'Replace the password with a new generated one (shown once)', tag: 'customers', params: S.IdParam, status: 200, response: { description: 'the new password', schema: S.PasswordIssued }, errors: [404] },
      async ({ params, principal }) => {
        await mustCustomer(store, params.id);
        const { password, hash } = await newPassword(o);
        await store.setPasswordHash(params.id, hash, actorOf(principal));
        return { password };
      },
    ),
    route(
      { method: 'GET', path: '/v1/customers/:id/assignment', auth: 'operator', operationId: 'getAssignment', summary: "The customer's ordered exit list and pools", tag: 'assignments', params: S.IdParam, status: 200, response: { description: 'assignment', schema: S.Assignment }, errors: [404] },
      async ({ params }) => {
        const c = await mustCustomer(store, params.id);
        return { exits: c.exits, pools: c.pools };
      },
    ),
    route(
      { method: 'PUT', path: '/v1/customers/:id/assignment', auth: 'operator', operationId: 'setAssignment', summary: "Replace the customer's exit list (ordered: port base+1 is the first) and pools", tag: 'assignments', params: S.IdParam, body: S.Assignment, status: 200, response: { description: 'the customer', schema: S.CustomerView }, errors: [404] },
      async ({ params, body, principal }) => view(await store.setAssignment(params.id, body, actorOf(principal))),
    ),
  ];
}
