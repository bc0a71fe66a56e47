/** Puts the API on a TCP port with @hono/node-server. */
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { ApiEnv } from './deps.js';

/** A listening server: its address and how to stop it. */
export interface Listening {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens on host:port (port 0 picks a free one) and resolves once the socket is bound. */
export function listen(app: Hono<ApiEnv>, host: string, port: number): Promise<Listening> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      resolve({
        host,
        port: info.port,
        close: () =>
          new Promise<void>((done, fail) => {
            server.close((err) => {
              if (err) fail(err);
              else done();
            });
          }),
      });
    });
    server.once('error', reject);
  });
}
