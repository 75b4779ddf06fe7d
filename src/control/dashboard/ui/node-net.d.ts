// The schemas the page's types come from import node:net (ingress-config.ts, for IP checks at
// runtime). Only their types reach the browser build, so these two signatures stand in for
// @types/node, which would let page code use Buffer, process… that do not exist in a browser.
declare module 'node:net' {
  export function isIPv4(input: string): boolean;
  export function isIPv6(input: string): boolean;
}
