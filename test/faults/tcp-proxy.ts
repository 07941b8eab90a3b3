import { createConnection, createServer, type Server, type Socket } from 'node:net';

// A loopback TCP proxy in front of a shared service (Redis, Postgres), so a test can take
// that service away from ONE app without touching the server other tests use.
//   up:    bytes flow both ways
//   cut:   every open connection is destroyed and new ones are dropped at once
//          (what a crashed or restarted server looks like)
//   stall: connections stay open but nothing flows either way (a partition / a hung server)
export type ProxyMode = 'up' | 'cut' | 'stall';

export interface TcpProxy {
  port: number;
  mode(): ProxyMode;
  cut(): void;
  stall(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: ProxyMode = 'up';
  const pairs = new Set<{ client: Socket; upstream: Socket }>();

  const server: Server = createServer((client) => {
    client.on('error', () => {});
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = createConnection(target);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
    // Forward by hand (not pipe) so a stall can swallow bytes without ending either side.
    client.on('data', (d) => {
      if (mode === 'up') upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (mode === 'up') client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    mode: () => mode,
    cut() {
      mode = 'cut';
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
    },
    stall() {
      mode = 'stall';
    },
    restore() {
      // After a stall the open connections carry half-delivered commands: drop them so
      // clients reconnect cleanly, as they would after a real partition heals with resets.
      if (mode === 'stall') {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        pairs.clear();
      }
      mode = 'up';
    },
    close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
