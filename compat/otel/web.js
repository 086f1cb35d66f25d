// The browser: @opentelemetry/sdk-trace-web + the OTLP/HTTP exporter, bundled by esbuild
// for the test page only. Posts cross-origin to opshelf (CORS).
import { WebTracerProvider } from '@opentelemetry/sdk-trace-web';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SpanStatusCode, context, trace } from '@opentelemetry/api';

window.runTrace = async (url) => {
  const provider = new WebTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'compat-web' }),
    // headers (even none) make the exporter use XMLHttpRequest instead of sendBeacon,
    // as an app that sets an auth header does: a CORS preflight, then the POST.
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url, headers: {} }))],
  });
  const tracer = provider.getTracer('compat-web', '1.0.0');
  const root = tracer.startSpan('page-load', { attributes: { 'page.path': '/checkout' } });
  const traceId = root.spanContext().traceId;
  const ctx = trace.setSpan(context.active(), root);
  const child = tracer.startSpan('click-pay', { attributes: { 'ui.button': 'pay' } }, ctx);
  child.addEvent('validation-failed', { field: 'card' });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'invalid card' });
  child.end();
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  return traceId;
};
