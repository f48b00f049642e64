// Verdict from a TypeScript AI service with no Verdict SDK: the configuration comes through
// OpenFeature (its OFREP provider), and the outcome goes to Verdict's REST events API.
//
//   cd examples/typescript && npm ci && npx tsc -p .
//   VERDICT_URL=http://127.0.0.1:3000 VERDICT_TOKEN=<a service token> \
//     node dist/feedback.js [flag key] [user id]
//
// The flag key is `targetType:targetId` (default `prompt:checkout-summary`). For a user in an
// experiment (reason SPLIT) it sends a feedback event — quality, latency, tokens, cost,
// satisfaction — with an idempotency key, then sends it again as a retry would: Verdict
// stores it once ("stored", then "duplicate"). OpenFeature's `track` is not used: the OFREP
// providers do not send tracking events (see docs/OPENFEATURE.md). Prints one JSON line of
// what happened; exits non-zero if Verdict refused anything.

import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { randomUUID } from 'node:crypto';

const VERDICT = process.env.VERDICT_URL ?? 'http://127.0.0.1:3000';
const TOKEN = process.env.VERDICT_TOKEN;
if (!TOKEN) throw new Error('VERDICT_TOKEN is required (a service token of your tenant)');
const HEADERS = { Authorization: `Bearer ${TOKEN}` };
const FLAG = process.argv[2] ?? 'prompt:checkout-summary';
const USER = process.argv[3] ?? 'customer-42';

// What the product does when Verdict has nothing for this user (or cannot be reached).
const DEFAULT_CONFIG = { prompt: 'Summarise the order.', temperature: 0.2 };
type PromptConfig = typeof DEFAULT_CONFIG;

OpenFeature.setProvider(new OFREPProvider({ baseUrl: VERDICT, headers: HEADERS }));
const client = OpenFeature.getClient('checkout');

/** Stands in for the model call: what a real service would send to its LLM. */
function generate(config: PromptConfig, question: string) {
  const started = performance.now();
  const answer = `${config.prompt} (${question})`;
  const latencyMs = performance.now() - started + 850; // plus the model's own time
  return { answer, latencyMs, tokens: 412, cost: 0.0031 };
}

/** One feedback event; the idempotency key makes a retry harmless. */
async function sendFeedback(experimentId: string, conversationId: string, outcome: ReturnType<typeof generate>) {
  const response = await fetch(`${VERDICT}/api/v1/insights/experiments/${experimentId}/events`, {
    method: 'POST',
    headers: { ...HEADERS, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      userId: USER,
      eventType: 'feedback',
      metrics: {
        quality: 0.86,
        latency: outcome.latencyMs,
        tokensUsed: outcome.tokens,
        cost: outcome.cost,
        userSatisfaction: 'positive',
      },
      context: { conversationId, intent: 'checkout' },
      idempotencyKey: `${conversationId}-feedback`,
    }),
  });
  if (!response.ok) throw new Error(`Verdict refused the event: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { status: string }).status;
}

const details = await client.getObjectDetails<PromptConfig>(FLAG, DEFAULT_CONFIG, {
  targetingKey: USER,
  intent: 'checkout',
});
const outcome = generate(details.value, 'order #1001');
const events: string[] = [];
if (details.reason === 'SPLIT') {
  const conversation = randomUUID();
  const experimentId = String(details.flagMetadata.experimentId);
  for (let i = 0; i < 2; i++) events.push(await sendFeedback(experimentId, conversation, outcome)); // the second is a retry
}
console.log(
  JSON.stringify({
    flag: FLAG,
    user: USER,
    variant: details.variant,
    reason: details.reason,
    errorCode: details.errorCode ?? null,
    configuration: details.value,
    events,
  }),
);
await OpenFeature.close();
