import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AlertWebhook<T> {
  url: string;
  received: T[];
  close(): Promise<void>;
}

// A stand-in for the alert webhook (Slack, PagerDuty): every message the service posts to
// `url`, parsed, in the order received.
export async function startAlertWebhook<T>(): Promise<AlertWebhook<T>> {
  const received: T[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as T);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/alerts`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
