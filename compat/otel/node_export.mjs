// Node: @opentelemetry/sdk-node with the OTLP/HTTP JSON trace exporter, unmodified.
// Usage: node node_export.mjs <otlp http base url>; prints the trace id.
import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { trace, SpanStatusCode, SpanKind } from '@opentelemetry/api';

const base = process.argv[2];
const sdk = new NodeSDK({
  resource: resourceFromAttributes({ 'service.name': 'compat-node', 'deployment.environment.name': 'test' }),
  traceExporter: new OTLPTraceExporter({ url: `${base}/v1/traces` }),
  instrumentations: [],
});
sdk.start();
const tracer = trace.getTracer('compat-node', '1.0.0');
let traceId;
await tracer.startActiveSpan('node-root', { kind: SpanKind.SERVER, attributes: { 'http.route': '/orders', 'order.count': 3 } }, async (root) => {
  traceId = root.spanContext().traceId;
  await tracer.startActiveSpan('node-child', { kind: SpanKind.CLIENT }, async (child) => {
    child.addEvent('cache-miss', { 'cache.key': 'orders:42' });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream timeout' });
    child.end();
  });
  root.end();
});
await sdk.shutdown();
console.log(traceId);
