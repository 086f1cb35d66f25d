// Push 5 lines through the real winston + winston-loki transport, then exit.
// Usage: node winston_push.js http://127.0.0.1:PORT <run-id>
// winston-loki chooses the wire format: protobuf+snappy when `snappy` loads, JSON otherwise.
'use strict';
const winston = require('winston');
const LokiTransport = require('winston-loki');

async function main() {
  const [host, run] = process.argv.slice(2);
  const transport = new LokiTransport({
    host,
    labels: { app: 'winston', run },
    batching: true,
    interval: 3600,
    gracefulShutdown: false,
    onConnectionError: (err) => { console.error('connection error', err); process.exitCode = 1; },
  });
  const logger = winston.createLogger({ level: 'debug', transports: [transport] });
  for (let i = 0; i < 5; i++) {
    logger.info(`winston line ${i}`, { labels: { component: i % 2 ? 'db' : 'web' }, n: i });
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 200));
  await new Promise((resolve) => transport.batcher.close(resolve));
}

main().catch((e) => { console.error(e); process.exit(1); });
