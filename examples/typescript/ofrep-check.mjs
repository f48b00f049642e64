// The OpenFeature JavaScript SDKs with their OFREP providers (unmodified, from npm, pinned in
// package.json) against a live Verdict: run by .ci/ofrep, which starts the server and makes
// the experiments (.ci/ofrep_setup.py).
//   - @openfeature/server-sdk + @openfeature/ofrep-provider: one flag per evaluation;
//   - @openfeature/web-sdk + @openfeature/ofrep-web-provider: the bulk route, cached, polled
//     with If-None-Match (its fetch is observed, not changed, to count the 304s).
// Every check compares what the SDK hands the application with what Verdict's own /resolve
// answers for the same user. Exits non-zero on any mismatch; its last line is
// `typescript: N passed, M failed`.
// Environment: VERDICT_URL, VERDICT_TOKEN (a service token of tenant acme), VERDICT_FLAGS (the
// JSON .ci/ofrep_setup.py printed), OFREP_USERS (default 10000).

import { OpenFeature as ServerFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature as WebFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';
import { isDeepStrictEqual } from 'node:util';

const BASE = process.env.VERDICT_URL;
const TOKEN = process.env.VERDICT_TOKEN;
const FLAGS = JSON.parse(process.env.VERDICT_FLAGS);
const USERS = Number(process.env.OFREP_USERS ?? 10000);
const DEFAULT = { caller: 'default' };
const targetOf = (key) => key.slice(key.indexOf(':') + 1);

let passed = 0;
let failed = 0;
function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

/** What /resolve gives `user`, by target id. */
async function resolve(user, intent) {
  const response = await fetch(`${BASE}/api/v1/insights/resolve`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ tenantId: 'acme', userId: user, ...(intent && { intent }) }),
  });
  if (response.status !== 200) throw new Error(`resolve answered ${response.status}`);
  const answer = await response.json();
  return Object.fromEntries(answer.assignments.map((a) => [a.targetId, a]));
}

/** Runs `work(i)` for i in 0..n, `width` at a time. */
async function inParallel(n, width, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

function serverClient(name, headers) {
  ServerFeature.setProvider(name, new OFREPProvider({ baseUrl: BASE, headers }));
  return ServerFeature.getClient(name);
}

const client = serverClient('bearer', { Authorization: `Bearer ${TOKEN}` });

// 1. Every user gets the arm and configuration /resolve gives them, reason SPLIT.
const mismatches = [];
const arms = {};
await inParallel(USERS, 16, async (i) => {
  const user = `ts-user-${i}`;
  const expected = (await resolve(user))[targetOf(FLAGS.split)];
  const got = await client.getObjectDetails(FLAGS.split, DEFAULT, { targetingKey: user });
  arms[got.variant] = (arms[got.variant] ?? 0) + 1;
  const same =
    got.variant === expected.variant &&
    isDeepStrictEqual(got.value, expected.configuration) &&
    got.reason === 'SPLIT' &&
    got.flagMetadata.experimentId === expected.experimentId &&
    got.flagMetadata.deployed === false;
  if (!same) mismatches.push({ user, got, expected });
});
check(`${USERS} users get exactly the variant and configuration /resolve gives them`, mismatches.length === 0, mismatches.slice(0, 3));
check('both arms are served', (arms.control ?? 0) > USERS / 3 && (arms.treatment ?? 0) > USERS / 3, arms);

// 2. A user the experiment does not target gets the caller's default. (This provider, 0.1.3,
// predates OFREP's answer without a value — ADR-0006 — so it reports it as an error; the
// value the application gets is still its default. The web provider below reads it as
// reason DEFAULT.)
const untargeted = await client.getObjectDetails(FLAGS.aimed, DEFAULT, { targetingKey: 'ts-untargeted', intent: 'summary' });
const resolvedUntargeted = await resolve('ts-untargeted', 'summary');
check(
  "an untargeted user gets the caller's default (server provider)",
  isDeepStrictEqual(untargeted.value, DEFAULT) && !(targetOf(FLAGS.aimed) in resolvedUntargeted),
  untargeted,
);
const targeted = await client.getObjectDetails(FLAGS.aimed, DEFAULT, { targetingKey: 'ts-untargeted', intent: 'risk' });
const expectedTargeted = (await resolve('ts-untargeted', 'risk'))[targetOf(FLAGS.aimed)];
check(
  "the context's intent targets as resolve's does",
  targeted.reason === 'SPLIT' && isDeepStrictEqual(targeted.value, expectedTargeted.configuration),
  targeted,
);

// 3. A deployed winner is served at its rollout percentage, STATIC, as /resolve serves it.
const N = 3000;
let served = 0;
const wrong = [];
await inParallel(N, 16, async (i) => {
  const user = `ts-rollout-${i}`;
  const expected = (await resolve(user))[targetOf(FLAGS.winner)];
  const got = await client.getObjectDetails(FLAGS.winner, DEFAULT, { targetingKey: user });
  let ok;
  if (expected === undefined) {
    ok = isDeepStrictEqual(got.value, DEFAULT);
  } else {
    served += 1;
    ok =
      isDeepStrictEqual(got.value, expected.configuration) &&
      got.reason === 'STATIC' &&
      got.variant === 'treatment' &&
      got.flagMetadata.experimentId === FLAGS.winnerExperiment &&
      got.flagMetadata.deployed === true;
  }
  if (!ok) wrong.push({ user, got, expected });
});
check(`a deployed winner: each of ${N} users gets what /resolve serves`, wrong.length === 0, wrong.slice(0, 3));
const share = served / N;
check(
  `a deployed winner is served to its rollout share (${FLAGS.rollout} %): ${(share * 100).toFixed(1)} %`,
  Math.abs(share - FLAGS.rollout / 100) < 0.03,
);

// 4. The SDK's documented errors: a bad token, an unknown flag, a missing targeting key.
const bad = await serverClient('bad', { Authorization: `Bearer vdt_${'0'.repeat(64)}` }).getObjectDetails(
  FLAGS.split,
  DEFAULT,
  { targetingKey: 'ts-user-1' },
);
// (0.1.3 throws its OFREPApiUnauthorizedError without a message; the SDK reports GENERAL.)
check(
  "a bad token: GENERAL, the caller's default",
  bad.errorCode === 'GENERAL' && bad.reason === 'ERROR' && isDeepStrictEqual(bad.value, DEFAULT),
  bad,
);
const unknown = await client.getObjectDetails('prompt:no-such-target', DEFAULT, { targetingKey: 'u' });
check("an unknown flag: FLAG_NOT_FOUND, the caller's default", unknown.errorCode === 'FLAG_NOT_FOUND' && isDeepStrictEqual(unknown.value, DEFAULT), unknown);
const anonymous = await client.getObjectDetails(FLAGS.split, DEFAULT, {});
check(
  "no targeting key: TARGETING_KEY_MISSING, the caller's default",
  anonymous.errorCode === 'TARGETING_KEY_MISSING' && isDeepStrictEqual(anonymous.value, DEFAULT),
  anonymous,
);
const byKey = await serverClient('api-key', { 'X-API-Key': TOKEN }).getObjectDetails(FLAGS.split, DEFAULT, { targetingKey: 'ts-user-1' });
const byBearer = await client.getObjectDetails(FLAGS.split, DEFAULT, { targetingKey: 'ts-user-1' });
check('X-API-Key answers as Authorization: Bearer', byKey.variant === byBearer.variant && byKey.errorCode === undefined, byKey);
await ServerFeature.close();

// 5. The bulk route through the web provider: every flag of the context, cached; polling with
// the ETag gets 304s; and the untargeted flag is reason DEFAULT with the caller's default.
const seen = [];
const observed = async (request, init) => {
  const response = await fetch(request, init);
  seen.push({ status: response.status, ifNoneMatch: request.headers.get('if-none-match'), etag: response.headers.get('etag') });
  return response;
};
const web = new OFREPWebProvider({
  baseUrl: BASE,
  headers: [['Authorization', `Bearer ${TOKEN}`]],
  pollInterval: 100,
  changeDetection: 'polling',
  cacheMode: 'disabled',
  fetchImplementation: observed,
});
const webContext = { targetingKey: 'ts-web-user', intent: 'summary' };
await WebFeature.setProviderAndWait(web, webContext);
const webClient = WebFeature.getClient();
const expectedWeb = await resolve('ts-web-user', 'summary');
for (const key of [FLAGS.split, FLAGS.winner]) {
  const got = webClient.getObjectDetails(key, DEFAULT);
  const expected = expectedWeb[targetOf(key)];
  check(
    `bulk: ${key} is what /resolve gives`,
    expected === undefined
      ? isDeepStrictEqual(got.value, DEFAULT) && got.reason === 'DEFAULT'
      : isDeepStrictEqual(got.value, expected.configuration) && got.variant === expected.variant,
    { got, expected },
  );
}
const webDefault = webClient.getObjectDetails(FLAGS.aimed, DEFAULT);
check(
  "bulk: an untargeted user gets the caller's default with reason DEFAULT",
  isDeepStrictEqual(webDefault.value, DEFAULT) && webDefault.reason === 'DEFAULT' && webDefault.errorCode === undefined,
  webDefault,
);
const deadline = Date.now() + 5000;
while (!seen.some((s) => s.status === 304) && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
await WebFeature.close();
const first = seen[0];
const notModified = seen.find((s) => s.status === 304);
check('bulk: the first fetch is a 200 with an ETag', first?.status === 200 && !!first.etag && first.ifNoneMatch === null, seen.slice(0, 3));
check(
  'bulk: polling again with If-None-Match is a 304',
  !!notModified && notModified.ifNoneMatch === first.etag && notModified.etag === first.etag,
  seen.slice(0, 3),
);

console.log(`typescript: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
