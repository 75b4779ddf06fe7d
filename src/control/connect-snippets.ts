/**
 * Ready-to-paste connection strings for one customer (GET /v1/me/connect): curl
 * through each proxy protocol the ingress speaks on its ports, Python requests,
 * Node undici and Playwright. Pure: the customer's login, where the ingress
 * answers, and the password or a placeholder in; text out. Every value put into
 * a URL is percent-encoded and every shell word single-quoted, so a login with
 * `@` or `+` pastes as it should.
 */

export const PASSWORD_PLACEHOLDER = 'PASSWORD';

export interface ConnectInput {
  readonly login: string;
  /** The clear password (asked for explicitly), or undefined: the placeholder is used. */
  readonly password: string | undefined;
  readonly host: string;
  readonly port: number;
  /** The ingress has a certificate: TLS to the proxy itself (https://) works on the same ports. */
  readonly tls: boolean;
  readonly target?: string;
}

export interface ConnectView {
  readonly host: string;
  readonly port: number;
  readonly login: string;
  readonly passwordShown: boolean;
  readonly proxies: { readonly http: string; readonly socks5h: string; readonly https: string | null };
  readonly snippets: {
    readonly curlSocks5h: string;
    readonly curlHttp: string;
    readonly curlHttps: string | null;
    readonly pythonRequests: string;
    readonly nodeUndici: string;
    readonly playwright: string;
  };
}

/** A host as it goes into a URL: IPv6 literals in brackets. */
function urlHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** One shell word, whatever it holds. */
function sh(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A JavaScript / Python string literal (JSON's escaping is valid in both for these characters). */
function lit(text: string): string {
  return JSON.stringify(text);
}

export function connectSnippets(i: ConnectInput): ConnectView {
  const pass = i.password ?? PASSWORD_PLACEHOLDER;
  const cred = `${encodeURIComponent(i.login)}:${encodeURIComponent(pass)}`;
  const where = `${urlHost(i.host)}:${i.port}`;
  const url = (scheme: string): string => `${scheme}://${cred}@${where}`;
  const target = i.target ?? 'https://example.com/';
  const http = url('http');
  const https = i.tls ? url('https') : null;
  return {
    host: i.host,
    port: i.port,
    login: i.login,
    passwordShown: i.password !== undefined,
    proxies: { http, socks5h: url('socks5h'), https },
    snippets: {
      curlSocks5h: `curl -x ${sh(url('socks5h'))} ${sh(target)}`,
      curlHttp: `curl -x ${sh(http)} ${sh(target)}`,
      // The ingress's certificate may be self-signed: name it with --proxy-cacert.
      curlHttps: https ? `curl --proxy-cacert ingress-cert.pem -x ${sh(https)} ${sh(target)}` : null,
      pythonRequests: [
        'import requests',
        `proxy = ${lit(http)}`,
        `r = requests.get(${lit(target)}, proxies={"http": proxy, "https": proxy}, timeout=30)`,
        'print(r.status_code)',
      ].join('\n'),
      nodeUndici: [
        "import { ProxyAgent, fetch } from 'undici';",
        `const dispatcher = new ProxyAgent(${lit(http)});`,
        `const res = await fetch(${lit(target)}, { dispatcher });`,
        'console.log(res.status);',
      ].join('\n'),
      playwright: [
        "import { chromium } from 'playwright';",
        `const browser = await chromium.launch({ proxy: { server: ${lit(`http://${where}`)}, username: ${lit(i.login)}, password: ${lit(pass)} } });`,
        'const page = await browser.newPage();',
        `await page.goto(${lit(target)});`,
        'await browser.close();',
      ].join('\n'),
    },
  };
}
