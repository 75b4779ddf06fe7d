/** Start, watch and stop the live fuzz host (host.ts) as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export interface HostStats {
  readonly rss: number;
  readonly heapUsed: number;
  readonly fds: number;
  readonly sessions: number;
}

export class HostProcess {
  exited: { code: number | null; signal: string | null } | undefined;
  private stderr = '';
  private waiting: Array<(s: HostStats) => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<HostProcess> {
    const script = fileURLToPath(new URL('./host.js', import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env, HOPGATE_FUZZ_HOST: '1' };
    delete env['NODE_TEST_CONTEXT'];
    const child = spawn(process.execPath, ['--expose-gc', script], { stdio: ['pipe', 'pipe', 'pipe'], env });
    let host: HostProcess | undefined;
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (host) host.stderr = (host.stderr + d.toString()).slice(-8000);
      else stderr += d.toString();
    });
    const lines = createInterface({ input: child.stdout });
    const port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`fuzz host not ready in 20 s: ${stderr}`)), 20_000);
      child.once('exit', (code) => reject(new Error(`fuzz host exited (${code}) before ready: ${stderr}`)));
      lines.once('line', (line) => {
        clearTimeout(t);
        resolve((JSON.parse(line) as { port: number }).port);
      });
    });
    host = new HostProcess(child, port);
    host.stderr = stderr;
    child.on('exit', (code, signal) => (host.exited = { code, signal }));
    lines.on('line', (line) => {
      let msg: { stats?: HostStats };
      try {
        msg = JSON.parse(line) as { stats?: HostStats };
      } catch {
        return; // not ours (a stray log line)
      }
      if (msg.stats) host.waiting.shift()?.(msg.stats);
    });
    return host;
  }

  /** The last of what the host wrote to stderr (a crash's stack). */
  get errorText(): string {
    return this.stderr.trim();
  }

  stats(): Promise<HostStats> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error('host has exited'));
      const t = setTimeout(() => reject(new Error('host did not report stats in 5 s')), 5000);
      this.waiting.push((s) => (clearTimeout(t), resolve(s)));
      this.child.stdin!.write('stats\n');
    });
  }

  /** Let the host shut down (stdin closes); kill it by its PID if it will not. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}
