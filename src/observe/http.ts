/** The worker's HTTP server: /metrics, /healthz, /readyz, /connectors. */
import * as http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { StatusBoard } from './status';

export interface HttpServer {
  /** The port it listens on (useful with port 0). */
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(host: string, port: number, registry: Registry, status: StatusBoard): Promise<HttpServer> {
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'method not allowed' });
    switch (url) {
      case '/metrics':
        registry
          .metrics()
          .then((text) => {
            res.writeHead(200, { 'content-type': registry.contentType });
            res.end(text);
          })
          .catch((err: Error) => json(500, { error: err.message }));
        return;
      case '/healthz': {
        // Answering at all proves the event loop turns; report its delay too.
        const maxDelayMs = Math.round(loop.max / 1e6);
        loop.reset();
        return json(200, { status: 'ok', event_loop_max_delay_ms: maxDelayMs });
      }
      case '/readyz': {
        const r = status.readiness();
        return json(r.ready ? 200 : 503, { ready: r.ready, not_ready: r.notReady, ...(r.share ? { share: r.share } : {}) });
      }
      case '/connectors':
        return json(200, { replica: status.replica(), connectors: status.all() });
      default:
        return json(404, { error: 'not found', endpoints: ['/metrics', '/healthz', '/readyz', '/connectors'] });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        loop.disable();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
