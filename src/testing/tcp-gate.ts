/**
 * A TCP forwarder in front of a real service, for outage tests. While open it forwards every
 * connection to the target. `cut()` drops the forwarded connections and turns the gate into a
 * black hole: new connections are accepted and then never answered, as a broker host that has
 * gone away looks to its clients (the harder case: a refused connection fails fast on its own).
 * `restore()` lets the held connections go and forwards again.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface TcpGate {
  readonly port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function openTcpGate(target: {
  readonly host: string;
  readonly port: number;
}): Promise<TcpGate> {
  let forwarding = true;
  const forwarded = new Set<Socket>();
  const held = new Set<Socket>();
  const track = (set: Set<Socket>, socket: Socket): void => {
    set.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      set.delete(socket);
    });
  };
  const server = createServer((client) => {
    if (!forwarding) {
      track(held, client);
      return;
    }
    const upstream = createConnection(target);
    track(forwarded, client);
    track(forwarded, upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('gate has no TCP port');
  const destroyAll = (set: Set<Socket>): void => {
    for (const socket of set) socket.destroy();
  };
  return {
    port: address.port,
    cut: () => {
      forwarding = false;
      destroyAll(forwarded);
    },
    restore: () => {
      forwarding = true;
      destroyAll(held);
    },
    close: async () => {
      destroyAll(forwarded);
      destroyAll(held);
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
