// Sends one failed tool call through an OpenTelemetry JS exporter and prints the outcome.
// usage: node export.js proto|http URL TOOL  ->  {"code": 0, "traceId": "..."} on stdout
'use strict';
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { context, trace, SpanStatusCode } = require('@opentelemetry/api');
const proto = require('@opentelemetry/exporter-trace-otlp-proto');
const json = require('@opentelemetry/exporter-trace-otlp-http');

const [kind, url, tool] = process.argv.slice(2);
const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'js-agent' }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('spansift-js-test');
const root = tracer.startSpan('invoke_agent support', {
  attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'support' },
});
const span = tracer.startSpan(
  `execute_tool ${tool}`,
  { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool } },
  trace.setSpan(context.active(), root),
);
span.setStatus({ code: SpanStatusCode.ERROR, message: 'TimeoutError: backend did not answer' });
span.end();
root.end();

const Exporter = kind === 'proto' ? proto.OTLPTraceExporter : json.OTLPTraceExporter;
const exporter = new Exporter({ url, timeoutMillis: 10000 });
exporter.export(memory.getFinishedSpans(), (result) => {
  const error = result.error ? String(result.error.message || result.error) : null;
  process.stdout.write(JSON.stringify({ code: result.code, error, traceId: root.spanContext().traceId }) + '\n');
  exporter.shutdown().then(() => process.exit(result.code === 0 ? 0 : 1));
});
