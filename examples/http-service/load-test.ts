/**
 * The load test, runnable on its own: boots the service on a free loopback port (store in
 * memory), sends 500 requests (20 at a time, 400 per second) while `users` and then `store`
 * restart, prints the figures and exits 1 on any failed request.
 *
 *   npm run example:http:load      # or: npx tsx examples/http-service/load-test.ts
 */
import { createConsoleLogger } from '../../src/index.ts';
import { EXAMPLE_SCENARIO, restartUnderLoad, send } from './load.ts';
import { startHttpService } from './service.ts';

const service = await startHttpService({ logger: createConsoleLogger({ level: 'warn' }) });
try {
  // The mix reads user 1: make sure it exists.
  await send(service.url, { method: 'POST', path: 'api/users', body: { name: 'first' } });
  const report = await restartUnderLoad(service, EXAMPLE_SCENARIO);
  const { load } = report;
  console.log(`requests:  ${load.requests} in ${load.durationMs} ms (${load.ok} answered 2xx)`);
  console.log(`failures:  ${load.failures.total} (connection ${load.failures.connection}, timeout ${load.failures.timeout}, 5xx ${load.failures.status5xx}, other ${load.failures.otherStatus})`);
  console.log(`statuses:  ${JSON.stringify(load.byStatus)}`);
  for (const r of report.restarts) console.log(`restart:   ${r.plugin} at ${r.atMs} ms, settled in ${r.tookMs} ms, now ${r.state}`);
  console.log(`held:      ${report.held} requests waited for a restarting plugin; ${report.unavailable} gave up`);
  for (const sample of load.samples) console.log(`failed:    ${sample.request.method} ${sample.request.path} ${sample.kind} ${sample.status ?? ''} ${sample.detail}`);
  process.exitCode = load.failures.total === 0 && report.restarts.every((r) => r.state === 'running') ? 0 : 1;
} finally {
  await service.close();
}
