import { createConnection, createServer, type Server, type Socket } from 'node:net';

// A loopback TCP proxy in front of a shared service (Redis, Postgres), so a test can take
// that service away from ONE app without touching the server other tests use.
//   up:    bytes flow both ways
//   cut:   every open connection is destroyed and new ones are dropped at once
//          (what a crashed or restarted server looks like)
//   stall: connections stay open but nothing flows either way (a partition / a hung server);
//          bytes wait in the kernel buffers and flow on restore, as when a partition heals,
//          unless restore({ reset: true }) drops those connections instead
export type ProxyMode = 'up' | 'cut' | 'stall';

export interface TcpProxy {
  port: number;
  mode(): ProxyMode;
  cut(): void;
  stall(): void;
  restore(opts?: { reset?: boolean }): void;
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
    // Forward by hand (not pipe): a stall pauses both sides without ending either.
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => client.write(d));
    if (mode === 'stall') {
      client.pause();
      upstream.pause();
    }
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
      for (const p of pairs) {
        p.client.pause();
        p.upstream.pause();
      }
    },
    restore(opts = {}) {
      for (const p of [...pairs]) {
        if (opts.reset) {
          p.client.destroy();
          p.upstream.destroy();
          pairs.delete(p);
        } else {
          p.client.resume();
          p.upstream.resume();
        }
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
