/**
 * A TCP proxy in front of PostgreSQL that can go silent: while frozen it keeps every socket open
 * but forwards nothing, which is what a half-open connection (a dead NAT entry, a dropped network
 * path) looks like to the client (after pg-boss' test/halfOpenProxy.ts).
 */
import * as net from 'node:net';

export class HalfOpenProxy {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();
  frozen = false;
  port = 0;
  private deferred: Array<() => void> = [];

  /** The path works again: what was held back (closes) goes through. */
  unfreeze(): void {
    this.frozen = false;
    for (const f of this.deferred.splice(0)) f();
  }

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(): Promise<number> {
    // allowHalfOpen: a frozen proxy does not answer the client's FIN either, as a dead path would not.
    this.server = net.createServer({ allowHalfOpen: true }, (client) => {
      const upstream = net.connect({ port: this.targetPort, host: this.targetHost, allowHalfOpen: true });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.on('data', (d) => {
        if (!this.frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.frozen) client.write(d);
      });
      // A FIN that arrives while frozen is delivered when the path comes back, as TCP would.
      const endBoth = () => {
        upstream.end();
        client.end();
      };
      for (const s of [client, upstream]) {
        s.on('end', () => {
          if (this.frozen) this.deferred.push(endBoth);
          else endBoth();
        });
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server?.address() as net.AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
