/**
 * A control plane with a nats-server of the test's own (events out, change messages in:
 * docs/EVENTS.md), on a database of dialects() (its case) and a temp state dir. close() stops all of it,
 * whatever start got to; restart() brings a new control plane up on the same database, state and NATS.
 */
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../../src/control/control-plane.js';
import { tempDir, type DialectCase, type TestDb } from './control-fixtures.js';
import { startNatsServer, type NatsServer } from './nats-server.js';

/** The control plane's options on this database, state dir and nats-server. */
export type NatsControlOptions = (db: string, stateDir: string, natsUrl: string) => ControlPlaneOptions;

export class NatsControl {
  private current: ControlPlane | undefined;

  private constructor(
    readonly tdb: TestDb,
    readonly state: ReturnType<typeof tempDir>,
    readonly nats: NatsServer,
    private readonly options: NatsControlOptions,
  ) {}

  static async start(dc: Pick<DialectCase, 'make'>, options: NatsControlOptions): Promise<NatsControl> {
    const tdb = await dc.make();
    const state = tempDir();
    let nats: NatsServer | undefined;
    try {
      nats = await startNatsServer();
      const w = new NatsControl(tdb, state, nats, options);
      await w.restart();
      return w;
    } catch (err) {
      await nats?.destroy();
      await tdb.cleanup();
      state.remove();
      throw err;
    }
  }

  get cp(): ControlPlane {
    return this.current!;
  }

  /** A new control plane (the test closed the last one). */
  async restart(): Promise<ControlPlane> {
    this.current = await startControlPlane(this.options(this.tdb.spec, this.state.path, this.nats.url));
    return this.current;
  }

  async close(): Promise<void> {
    await this.current?.close();
    await this.nats.destroy();
    await this.tdb.cleanup();
    this.state.remove();
  }
}
