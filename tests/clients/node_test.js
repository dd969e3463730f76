// node-postgres (npm `pg`) against Sluice: a stream and a materialized view over
// tests/data/bids_small.json, the view read with an unnamed and a named prepared statement,
// every type of the compatibility list as a parameter and as a result (node-postgres sends
// parameters untyped, in text, and reads results in text), and errors that leave the
// connection usable.
//
// Run by tests/clients.rs: `node node_test.js <port> [types]` with NODE_PATH naming the
// node_modules that holds `pg`, and TZ=UTC (pg reads timestamps in the local time zone).
// With `types` it runs only the type checks, which also pass against a real Postgres (a way
// to check the expectations). Prints one line per failed check and exits 1 if any failed.

'use strict';

const assert = require('node:assert');
const { Client } = require('pg');

const failures = [];
let checks = 0;

function check(ok, what) {
  checks++;
  if (!ok) {
    failures.push(what);
    console.log('FAIL ' + what);
  }
}

function checkEqual(expected, actual, what) {
  let ok = true;
  try {
    assert.deepStrictEqual(actual, expected);
  } catch (e) {
    ok = false;
  }
  check(ok, `${what}: expected ${show(expected)}, got ${show(actual)}`);
}

function show(value) {
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return 'Buffer ' + value.toString('hex');
  return JSON.stringify(value);
}

/** Runs one group of checks; an exception fails the group and the others still run. */
async function section(name, action) {
  try {
    await action();
  } catch (e) {
    check(false, `${name}: ${e.stack || e}`);
  }
}

const OID = {
  bool: 16, int2: 21, int4: 23, int8: 20, float4: 700, float8: 701, numeric: 1700, text: 25,
  varchar: 1043, bytea: 17, date: 1082, time: 1083, timestamp: 1114, timestamptz: 1184,
  interval: 1186, json: 114, jsonb: 3802,
};

async function createStreamAndView(client) {
  await client.query(`CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT,
      date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
      WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')`);
  await client.query(`CREATE MATERIALIZED VIEW auction_stats AS
      SELECT auction, window_end, count(*) AS bids, sum(price)::numeric AS total,
             avg(price) AS average, CAST(max(channel) AS VARCHAR) AS channel,
             ('{"bids": ' || count(*) || '}')::json AS summary
      FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_end`);
  await client.query('FLUSH');
}

const VIEW_QUERY = 'SELECT auction, window_end, bids, total, average, channel, summary FROM auction_stats '
  + 'WHERE auction >= $1 ORDER BY window_end, auction';

// The rows of VIEW_QUERY: every window closes at the end of the file; the bid at 10:00:07 is
// late (the watermark is at 10:00:08 by then) and the bid with auction "x" is invalid. pg
// reads int8 and numeric as strings (they may not fit a JS number) and json parsed; `avg`
// of a bigint is a numeric with Postgres's 16 decimals.
function viewRow(auction, windowEnd, bids, total, average, channel) {
  const summary = { bids: Number(bids) };
  return { auction, window_end: new Date(windowEnd), bids, total, average, channel, summary };
}
const VIEW_ROWS = [
  viewRow('1', '2026-03-01T10:00:10Z', '3', '90', '30.0000000000000000', 'web'),
  viewRow('2', '2026-03-01T10:00:10Z', '2', '45', '22.5000000000000000', 'web'),
  viewRow('1', '2026-03-01T10:00:20Z', '1', '60', '60.0000000000000000', 'app'),
  viewRow('2', '2026-03-01T10:00:20Z', '1', '40', '40.0000000000000000', 'app'),
  viewRow('1', '2026-03-01T10:00:30Z', '1', '5', '5.0000000000000000', 'web'),
  viewRow('2', '2026-03-01T10:00:30Z', '1', '70', '70.0000000000000000', 'web'),
];

const VIEW_COLUMNS = [['auction', 'int8'], ['window_end', 'timestamp'], ['bids', 'int8'], ['total', 'numeric'],
  ['average', 'numeric'], ['channel', 'varchar'], ['summary', 'json']];

/** The view with an unnamed statement, then a named one (prepared once, run twice). */
async function readView(client) {
  const runs = [{ text: VIEW_QUERY, values: [0] },
    { name: 'view_by_auction', text: VIEW_QUERY, values: [0] },
    { name: 'view_by_auction', text: VIEW_QUERY, values: [0] }];
  for (const [i, config] of runs.entries()) {
    const what = `view (${config.name || 'unnamed'}, run ${i + 1})`;
    const result = await client.query(config);
    checkEqual(VIEW_COLUMNS.map(([n, t]) => [n, OID[t]]), result.fields.map((f) => [f.name, f.dataTypeID]),
      what + ' columns');
    checkEqual(VIEW_ROWS, result.rows, what + ' rows');
  }
}

// [type, literal, value bound (sent as text, untyped), expected value read back]
const CASES = [
  ['bool', 'true', true, true],
  ['int2', '7', 7, 7],
  ['int4', '70000', 70000, 70000],
  ['int8', '1099511627776', '1099511627776', '1099511627776'],
  ['float4', '1.5', 1.5, 1.5],
  ['float8', '2.25', 2.25, 2.25],
  ['numeric', '12.34', '12.34', '12.34'],
  ['text', "'héllo'", 'héllo', 'héllo'],
  ['varchar', "'v'", 'v', 'v'],
  ['bytea', "'\\x0001ff'", Buffer.from([0, 1, 255]), Buffer.from([0, 1, 255])],
  ['date', "'2024-02-29'", '2024-02-29', new Date('2024-02-29T00:00:00Z')],
  ['time', "'13:14:15.123456'", '13:14:15.123456', '13:14:15.123456'],
  ['timestamp', "'2024-01-02 03:04:05.678'", '2024-01-02 03:04:05.678', new Date('2024-01-02T03:04:05.678Z')],
  ['timestamptz', "'2024-01-02 03:04:05+00'", new Date('2024-01-02T03:04:05Z'), new Date('2024-01-02T03:04:05Z')],
  ['interval', "'3 days 04:00:00'", '3 days 04:00:00', { days: 3, hours: 4 }],
  ['json', `'{"a": [1, 2]}'`, { a: [1, 2] }, { a: [1, 2] }],
  ['jsonb', `'{"b": true}'`, { b: true }, { b: true }],
];

/** Each type as a parameter (`SELECT $1::type`) and from a literal, then NULL both ways. */
async function types(client) {
  for (const [type, literal, value, expected] of CASES) {
    const queries = [[`SELECT $1::${type} AS v`, [value], expected],
      [`SELECT CAST(${literal} AS ${type}) AS v`, [], expected],
      [`SELECT $1::${type} AS v`, [null], null],
      [`SELECT CAST(NULL AS ${type}) AS v`, [], null]];
    for (const [sql, values, want] of queries) {
      const what = `${sql} ${show(values)}`;
      await section(what, async () => {
        const result = await client.query(sql, values);
        checkEqual(OID[type], result.fields[0].dataTypeID, what + ' type');
        let got = result.rows[0].v;
        if (type === 'interval' && got !== null) got = { ...got }; // a PostgresInterval: compare its fields
        checkEqual(want, got, what + ' value');
      });
    }
  }
}

/** Errors carry their SQLSTATE and the connection stays usable after each. */
async function errors(client) {
  await expectError(client, 'SELEC 1', [], '42601');
  await expectError(client, 'SELECT * FROM no_such_view', [], '42P01');
  await expectError(client, 'SELECT * FROM no_such_view WHERE x = $1', [1], '42P01');
  await expectError(client, { name: 'divide', text: 'SELECT 10::int4 / $1::int4 AS v', values: [0] }, undefined, '22012');
  const after = await client.query({ name: 'divide', text: 'SELECT 10::int4 / $1::int4 AS v', values: [2] });
  checkEqual([{ v: 5 }], after.rows, 'named statement after its error');
  const rows = await client.query(VIEW_QUERY, [0]);
  checkEqual(VIEW_ROWS, rows.rows, 'view after errors');
}

async function expectError(client, query, values, sqlstate) {
  try {
    await client.query(query, values);
    check(false, `${JSON.stringify(query)}: no error`);
  } catch (e) {
    checkEqual(sqlstate, e.code, `${JSON.stringify(query)} SQLSTATE (${e.message})`);
  }
}

async function main() {
  const port = Number(process.argv[2]);
  const onlyTypes = process.argv[3] === 'types';
  const client = new Client({ host: '127.0.0.1', port, user: 'sluice', database: 'sluice', connectionTimeoutMillis: 10000 });
  await client.connect();
  try {
    if (!onlyTypes) {
      await section('create', () => createStreamAndView(client));
      await section('view', () => readView(client));
    }
    await section('types', () => types(client));
    if (!onlyTypes) await section('errors', () => errors(client));
  } finally {
    await client.end();
  }
  const version = require('pg/package.json').version;
  console.log(`pg ${version}: ${checks - failures.length} passed, ${failures.length} failed`);
  process.exit(failures.length ? 1 : 0);
}

main().catch((e) => {
  console.log('FAIL ' + (e.stack || e));
  process.exit(1);
});
