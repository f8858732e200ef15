/**
 * `npm run functions`: lists every registered function with its trigger and what fires it,
 * exactly as the local host (and Azure) will see them.
 */
import { loadFunctionApp } from '../host/load';
import type { RegisteredFunction } from '../host/registry';

function describeTrigger(fn: RegisteredFunction): string {
  const t = fn.trigger;
  switch (t.type) {
    case 'httpTrigger': {
      const methods = Array.isArray(t.methods) ? (t.methods as string[]).join(',') : 'GET,POST';
      return `${methods} /${typeof t.route === 'string' && t.route ? t.route : fn.name} (auth: ${String(t.authLevel ?? 'anonymous')})`;
    }
    case 'timerTrigger':
      return `schedule "${String(t.schedule)}"${t.runOnStartup ? ' (runs on startup)' : ''}`;
    case 'serviceBusTrigger':
      return `queue "${String(t.queueName)}" via ${String(t.connection)}`;
    case 'orchestrationTrigger':
    case 'activityTrigger':
    case 'entityTrigger':
      return 'Durable Functions';
    default:
      return '';
  }
}

async function main(): Promise<void> {
  const registry = await loadFunctionApp();
  const functions = registry.all().sort((a, b) => a.trigger.type.localeCompare(b.trigger.type) || a.name.localeCompare(b.name));
  const width = Math.max(...functions.map((f) => f.name.length), 4);
  for (const fn of functions) {
    console.log(`${fn.name.padEnd(width)}  ${fn.trigger.type.padEnd(20)}  ${describeTrigger(fn)}`);
  }
  console.log(`${functions.length} functions`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
