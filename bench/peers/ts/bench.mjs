// Powertools for AWS Lambda (TypeScript) harness for the idem peer comparison.
//
// Runs one slice of the workload described in bench/peers/rust/src/workload.rs
// (same BENCH_* settings, same JSON line on stdout) with `makeIdempotent` on a
// DynamoDBPersistenceLayer whose DynamoDBClient points at DynamoDB Local.
// Plain ES modules: TypeScript compiles to this, and skipping tsc keeps the
// install to `npm ci`. With BENCH_MODE=capacity it runs the capacity steps of
// bench/peers/rust/src/capacity.rs instead, through capacity_proxy.py
// (BENCH_ENDPOINT is the proxy).

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent,
} from '@aws-lambda-powertools/idempotency';
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb';

const env = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined) {
    if (fallback === undefined) {
      console.error(`${name} is not set`);
      process.exit(2);
    }
    return fallback;
  }
  return value;
};
const envNum = (name, fallback) => Number.parseInt(env(name, String(fallback)), 10);

const endpoint = env('BENCH_ENDPOINT');
const table = env('BENCH_TABLE');
const prefix = env('BENCH_PREFIX');
const template = JSON.parse(readFileSync(env('BENCH_PAYLOAD'), 'utf8'));
const warmupKeys = envNum('BENCH_WARMUP_KEYS', 20);
const seqKeys = envNum('BENCH_SEQ_KEYS', 250);
const concKeys = envNum('BENCH_CONC_KEYS', 250);
const concurrency = envNum('BENCH_CONCURRENCY', 16);
const sideKeys = envNum('BENCH_SIDE_KEYS', 0);
const deliveries = envNum('BENCH_DELIVERIES', 8);
const bodyMs = envNum('BENCH_BODY_MS', 20);

const client = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  maxAttempts: 3,
});
let calls = 0;
// The initialize step runs once per operation; retries happen further down.
client.middlewareStack.add(
  (next) => async (args) => {
    calls += 1;
    return next(args);
  },
  { step: 'initialize', name: 'idemBenchCallCounter' },
);

// The capacity steps: before each call, tell the proxy which step follows,
// so it charges that call's requests to it. Powertools has no waiting policy,
// so no wait step.
const capacity = async () => {
  const peer = env('BENCH_PEER', 'powertools-typescript');
  const keys = envNum('BENCH_CAPACITY_KEYS', 10);
  const mark = async (step) => {
    const reply = await fetch(`${endpoint}/__step?peer=${peer}&step=${step}`);
    if (!reply.ok) throw new Error(`the proxy refused step ${step}`);
    await reply.arrayBuffer();
  };
  // A layer per function: Powertools configures a layer once.
  const decorated = (body, useLocalCache) => {
    const config = new IdempotencyConfig({ eventKeyJmesPath: 'order_id', expiresAfterSeconds: 3600, useLocalCache });
    config.registerLambdaContext({ getRemainingTimeInMillis: () => 300_000 });
    const store = new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client });
    return makeIdempotent(body, { persistenceStore: store, config });
  };
  const receipt = async (order) => ({
    order_id: order.order_id,
    receipt_id: `rcpt-${order.order_id}`,
    amount_cents: order.amount_cents,
    status: 'charged',
  });
  const declined = new Error('declined');
  const charge = decorated(receipt, false);
  const cached = decorated(receipt, true);
  const failing = decorated(async () => {
    throw declined;
  }, false);
  const orderFor = (step, i) => ({ ...template, order_id: `${prefix}-${step}-${i}` });
  for (let i = 0; i < keys; i++) {
    const order = orderFor('plain', i);
    await mark('first');
    const first = await charge(order);
    await mark('duplicate');
    if (!sameReceipt(first, await charge(order))) throw new Error('the duplicate returned another receipt');
  }
  for (let i = 0; i < keys; i++) {
    const order = orderFor('cache', i);
    await mark('cached_first');
    const first = await cached(order);
    await mark('cached_duplicate');
    if (!sameReceipt(first, await cached(order))) throw new Error('the cached duplicate returned another receipt');
  }
  for (let i = 0; i < keys; i++) {
    await mark('failed');
    const outcome = await failing(orderFor('failed', i)).then(() => 'ok', (e) => e);
    if (outcome !== declined) throw new Error(`a failing body ended with ${outcome}`);
  }
  await mark('idle');
  console.log(JSON.stringify({ peer, capacity_keys: keys, wait_keys: 0, wait_secs: 0 }));
};

const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: table,
  awsSdkV3Client: client,
});
const config = new IdempotencyConfig({
  eventKeyJmesPath: 'order_id',
  expiresAfterSeconds: 3600,
  // Off, as idem runs here without its cache: every duplicate reaches the table.
  useLocalCache: false,
});
// Powertools takes a claim's lease from the Lambda context's remaining time
// (and warns on every call without one); 5 min matches idem's default lease.
config.registerLambdaContext({ getRemainingTimeInMillis: () => 300_000 });

let effects = 0;
const charge = makeIdempotent(
  async (order, delayMs = 0) => {
    effects += 1;
    if (delayMs > 0) await sleep(delayMs);
    return {
      order_id: order.order_id,
      receipt_id: `rcpt-${order.order_id}`,
      amount_cents: order.amount_cents,
      status: 'charged',
    };
  },
  { persistenceStore, config },
);

const orderFor = (phase, i) => ({ ...template, order_id: `${prefix}-${phase}-${i}` });
// Key order aside: Powertools saves the result with its keys sorted.
const canonical = (o) => JSON.stringify(Object.fromEntries(Object.entries(o).sort()));
const sameReceipt = (a, b) => canonical(a) === canonical(b);

if (env('BENCH_MODE', 'timed') === 'capacity') {
  await capacity();
  process.exit(0);
}

const firstAndDuplicate = async (order) => {
  const before = effects;
  const first = await charge(order);
  const dup = await charge(order);
  if (!sameReceipt(first, dup)) throw new Error(`the duplicate of ${order.order_id} returned another receipt`);
  if (effects <= before) throw new Error('the first call did not run the body');
};

const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};

for (let i = 0; i < warmupKeys; i++) await firstAndDuplicate(orderFor('warm', i));

const cpuStart = cpuSeconds();

const firstUs = [];
const dupUs = [];
let firstCalls = 0;
let dupCalls = 0;
let effectsBefore = effects;
const seqStart = process.hrtime.bigint();
for (let i = 0; i < seqKeys; i++) {
  const order = orderFor('seq', i);
  let c = calls;
  let t = process.hrtime.bigint();
  const first = await charge(order);
  firstUs.push(Number(process.hrtime.bigint() - t) / 1e3);
  firstCalls += calls - c;

  c = calls;
  t = process.hrtime.bigint();
  const dup = await charge(order);
  dupUs.push(Number(process.hrtime.bigint() - t) / 1e3);
  dupCalls += calls - c;
  if (!sameReceipt(first, dup)) throw new Error(`the duplicate of ${order.order_id} returned another receipt`);
}
const seqSecs = Number(process.hrtime.bigint() - seqStart) / 1e9;
if (effects - effectsBefore !== seqKeys) throw new Error(`${effects - effectsBefore} bodies ran for ${seqKeys} keys`);

let nextKey = 0;
const worker = async () => {
  for (;;) {
    const i = nextKey++;
    if (i >= concKeys) return;
    await firstAndDuplicate(orderFor('conc', i));
  }
};
effectsBefore = effects;
const concStart = process.hrtime.bigint();
await Promise.all(Array.from({ length: concurrency }, worker));
const concSecs = Number(process.hrtime.bigint() - concStart) / 1e9;
if (effects - effectsBefore !== concKeys) throw new Error(`${effects - effectsBefore} bodies ran for ${concKeys} keys`);

const cpuSecs = cpuSeconds() - cpuStart;

let sideOk = 0;
let sideInProgress = 0;
let sideErrors = 0;
effectsBefore = effects;
for (let k = 0; k < sideKeys; k++) {
  const order = orderFor('side', k);
  const outcomes = await Promise.allSettled(Array.from({ length: deliveries }, () => charge(order, bodyMs)));
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') sideOk += 1;
    else if (outcome.reason instanceof IdempotencyAlreadyInProgressError) sideInProgress += 1;
    else {
      console.error('side-effect delivery failed:', outcome.reason);
      sideErrors += 1;
    }
  }
}
const sideEffects = effects - effectsBefore;

console.log(
  JSON.stringify({
    peer: env('BENCH_PEER', 'powertools-typescript'),
    round: envNum('BENCH_ROUND', 1),
    first_us: firstUs,
    dup_us: dupUs,
    first_calls: firstCalls,
    dup_calls: dupCalls,
    seq_ops: 2 * seqKeys,
    seq_secs: seqSecs,
    conc_ops: 2 * concKeys,
    conc_secs: concSecs,
    concurrency,
    cpu_secs: cpuSecs,
    maxrss_kb: process.resourceUsage().maxRSS,
    side_keys: sideKeys,
    side_deliveries: deliveries,
    side_effects: sideEffects,
    side_ok: sideOk,
    side_in_progress: sideInProgress,
    side_errors: sideErrors,
  }),
);
