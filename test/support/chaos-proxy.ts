import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of Redis that can hold back one client's
 * commands: once armed, the first request whose bytes match (and everything
 * after it) waits in the proxy until `release()`. It lets a
 * test freeze an engine at the exact moment its batch commit is on its way.
 */
export class HoldingProxy {
  readonly port: number;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private pattern: RegExp | undefined;
  private onHold: (() => void) | undefined;
  private readonly held: Array<{ upstream: Socket; chunk: Buffer }> = [];
  private holding = false;

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(target: { host: string; port: number }): Promise<HoldingProxy> {
    let proxy: HoldingProxy | undefined;
    const server = createServer((client) => proxy?.connect(client, target));
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
    proxy = new HoldingProxy(server, port);
    return proxy;
  }

  /** Holds the next request whose bytes (as latin1) match `pattern`, and calls `onHold` then. */
  arm(pattern: RegExp, onHold: () => void): void {
    this.pattern = pattern;
    this.onHold = onHold;
  }

  /** Forwards what was held, in order, and lets everything through from now on. */
  release(): void {
    this.holding = false;
    this.pattern = undefined;
    for (const { upstream, chunk } of this.held.splice(0)) upstream.write(chunk);
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private connect(client: Socket, target: { host: string; port: number }): void {
    const upstream = createConnection(target);
    this.sockets.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (!this.holding && this.pattern?.test(chunk.toString('latin1'))) {
        this.holding = true;
        this.onHold?.();
      }
      if (this.holding) this.held.push({ upstream, chunk });
      else upstream.write(chunk);
    });
  }
}
