// Calibration for `npm run bench`: a bare Fastify 5 route returning {hello:'world'}, in
// its own process, as in /work/shared/MEASURED.md (44,000 req/s at 50 connections on
// this kind of machine when it is quiet). Its figure in the same run tells how loaded
// the shared machine was. Usage: node --import tsx bench/bare-fastify.ts PORT
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));
await app.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1' });
console.log('bare fastify listening');
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
