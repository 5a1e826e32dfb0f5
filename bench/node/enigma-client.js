#!/usr/bin/env node
// The enigma.js column of `cargo xtask bench`: the same workloads as bench-raw and bench-qix,
// through enigma.js's public API, printing the same JSON line. Run by xtask as
//   node --expose-gc enigma-client.js <workload> --url URL --ops N --warmup N
//        --server-pid PID --expect-version V --expect-docs N
// with NODE_PATH pointing at the node_modules that `npm ci` made under target/bench-node/.
'use strict';

const fs = require('fs');
const path = require('path');
const enigma = require('enigma.js');
const WebSocket = require('ws');

const IN_FLIGHT = 64; // calls in flight (inflight, traffic), as in the Rust clients
const OPENING = 64; // sessions opening at once (idle)
const SETTLE_MS = 300; // after the last open, before memory is read
const BIG_METHOD = 'getDocList';

function parseArgs(argv) {
  const args = { workload: argv[0], ops: 1000, warmup: 100, serverPid: null };
  for (let i = 1; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--url': args.url = value; break;
      case '--ops': args.ops = Number(value); break;
      case '--warmup': args.warmup = Number(value); break;
      case '--server-pid': args.serverPid = Number(value); break;
      case '--expect-version': args.version = value; break;
      case '--expect-docs': args.docs = Number(value); break;
      default: throw new Error(`unknown option ${flag}`);
    }
  }
  if (!args.url) throw new Error('--url is required');
  return args;
}

// The schema enigma.js ships for the engine version the bench engine claims to be, else the
// newest it has: only the Global and Doc methods used here matter.
function loadSchema(version) {
  const dir = path.join(path.dirname(require.resolve('enigma.js/package.json')), 'schemas');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  const byVersion = (f) => f.replace('.json', '').split('.').map(Number);
  files.sort((a, b) => {
    const [x, y] = [byVersion(a), byVersion(b)];
    for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] - y[i];
    return 0;
  });
  const exact = files.find((f) => f === `${version}.json`);
  return JSON.parse(fs.readFileSync(path.join(dir, exact || files[files.length - 1]), 'utf8'));
}

function cpuNs() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

// The server's CPU time over its threads, in ns, as the Rust clients read it.
function serverNs(pid) {
  if (!pid) return null;
  try {
    let total = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    }
    return total;
  } catch (_) {
    return null;
  }
}

function rssBytes() {
  try {
    return Number(fs.readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
  } catch (_) {
    return null;
  }
}

// The JS heap plus the memory of buffers outside it, after a full collection.
function heapBytes() {
  if (global.gc) global.gc();
  const memory = process.memoryUsage();
  return memory.heapUsed + memory.external;
}

class Probe {
  constructor(serverPid) {
    this.serverPid = serverPid;
    this.server = serverNs(serverPid);
    this.rss = rssBytes();
    this.cpu = cpuNs();
    this.wall = process.hrtime.bigint();
  }

  finish() {
    const wall = Number(process.hrtime.bigint() - this.wall);
    const cpu = cpuNs() - this.cpu;
    const rss = rssBytes();
    const server = serverNs(this.serverPid);
    return {
      wallNs: wall,
      cpuNs: cpu,
      rssBytes: rss !== null && this.rss !== null ? rss - this.rss : null,
      serverNs: server !== null && this.server !== null ? server - this.server : null,
    };
  }
}

function perOp(metrics, span, ops) {
  const secs = span.wallNs / 1e9;
  metrics.ops_per_s = ops / secs;
  metrics.cpu_us = span.cpuNs / 1000 / ops;
  if (span.serverNs !== null) {
    metrics.server_us = span.serverNs / 1000 / ops;
    metrics.server_share = span.serverNs / 1e9 / secs;
  }
  return metrics;
}

function latencies(metrics, ns) {
  ns.sort((a, b) => a - b);
  const at = (q) => ns[Math.min(Math.floor(ns.length * q), ns.length - 1)] / 1000;
  metrics.p50_us = at(0.5);
  metrics.p99_us = at(0.99);
  return metrics;
}

function checkVersion(args, result) {
  if (!result || result.qComponentVersion !== args.version) {
    throw new Error(`EngineVersion answered ${JSON.stringify(result)}`);
  }
}

function create(schema, url, delta = false) {
  return enigma.create({
    schema,
    url,
    createSocket: (u) => new WebSocket(u),
    // Workloads (a)-(f): the bench engine answers those methods in full and neither raw nor
    // qix asks for delta there. The (h) layout workloads turn it on, enigma.js's default.
    protocol: { delta },
  });
}

// (h) GetLayout of the 1 MB layout: `mode` is the bench engine's `layout=` query, or null for
// delta off.
async function layout(args, schema, mode) {
  const url = mode ? args.url + (args.url.includes('?') ? '&' : '?') + `layout=${mode}` : args.url;
  const session = create(schema, url, mode !== null);
  const g = await session.open();
  const doc = await g.openDoc('bench.qvf');
  const chart = await doc.getObject('bench-chart');
  for (let i = 0; i < Math.max(args.warmup, 1); i += 1) await chart.getLayout();
  let last = null;
  const probe = new Probe(args.serverPid);
  for (let i = 0; i < args.ops; i += 1) last = await chart.getLayout();
  const span = probe.finish();
  if (!last || !Array.isArray(last.qDocList) || last.qDocList.length !== args.docs) {
    throw new Error(`GetLayout answered ${last && last.qDocList && last.qDocList.length} docs, not ${args.docs}`);
  }
  await session.close();
  return perOp({}, span, args.ops);
}

// `calls` engineVersion calls from `loops` loops, each awaiting one call after another.
async function calls(globalApi, total, loops) {
  let issued = 0;
  let last = null;
  const loop = async () => {
    while (issued < total) {
      issued += 1;
      last = await globalApi.engineVersion();
    }
  };
  await Promise.all(Array.from({ length: Math.min(loops, total) }, loop));
  return last;
}

const workloads = {
  'layout-full': (args, schema) => layout(args, schema, 'full'),
  'layout-unchanged': (args, schema) => layout(args, schema, 'unchanged'),
  'layout-off': (args, schema) => layout(args, schema, null),

  async seq(args, schema) {
    const session = create(schema, args.url);
    const g = await session.open();
    for (let i = 0; i < args.warmup; i += 1) await g.engineVersion();
    const ns = new Array(args.ops);
    let last = null;
    const probe = new Probe(args.serverPid);
    for (let i = 0; i < args.ops; i += 1) {
      const start = process.hrtime.bigint();
      last = await g.engineVersion();
      ns[i] = Number(process.hrtime.bigint() - start);
    }
    const span = probe.finish();
    checkVersion(args, last);
    await session.close();
    return latencies(perOp({}, span, args.ops), ns);
  },

  async inflight(args, schema) {
    return inflight(args, schema, false);
  },

  async traffic(args, schema) {
    return inflight(args, schema, true);
  },

  async 'big-value'(args, schema) {
    const session = create(schema, args.url);
    const g = await session.open();
    for (let i = 0; i < args.warmup; i += 1) await g[BIG_METHOD]();
    let last = null;
    const probe = new Probe(args.serverPid);
    for (let i = 0; i < args.ops; i += 1) last = await g[BIG_METHOD]();
    const span = probe.finish();
    if (!Array.isArray(last) || last.length !== args.docs) {
      throw new Error(`GetDocList answered ${last && last.length} docs, not ${args.docs}`);
    }
    await session.close();
    return perOp({}, span, args.ops);
  },

  async idle(args, schema) {
    const sessions = [];
    let opened = 0;
    const heap = heapBytes();
    const probe = new Probe(args.serverPid);
    const opener = async () => {
      while (opened < args.ops) {
        opened += 1;
        const session = create(schema, args.url);
        const g = await session.open();
        sessions.push([session, g]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPENING, args.ops) }, opener));
    const openMs = probe.finish().wallNs / 1e6;
    await new Promise((resolve) => { setTimeout(resolve, SETTLE_MS); });
    const span = probe.finish();
    const heapAfter = heapBytes();
    if (sessions.length !== args.ops) throw new Error(`opened ${sessions.length} sessions`);
    const metrics = perOp({}, span, args.ops);
    metrics.heap_kib = (heapAfter - heap) / 1024 / args.ops;
    if (span.rssBytes !== null) metrics.rss_kib = span.rssBytes / 1024 / args.ops;
    metrics.open_ms = openMs;
    metrics.ops_per_s = args.ops / (openMs / 1000); // without the settling time
    delete metrics.server_share; // the span includes the settling time
    return metrics;
  },

  async suspend(args, schema) {
    const url = args.url + (args.url.includes('?') ? '&' : '?') + 'attached';
    const session = create(schema, url);
    const g = await session.open();
    const doc = await g.openDoc('bench.qvf');
    const cycle = async () => {
      await session.suspend();
      await session.resume(true);
    };
    for (let i = 0; i < args.warmup; i += 1) await cycle();
    const probe = new Probe(args.serverPid);
    for (let i = 0; i < args.ops; i += 1) await cycle();
    const span = probe.finish();
    if (doc.handle !== 1) throw new Error(`the Doc came back on handle ${doc.handle}`);
    checkVersion(args, await g.engineVersion());
    await session.close();
    return perOp({}, span, args.ops);
  },
};

async function inflight(args, schema, traffic) {
  const session = create(schema, args.url);
  let events = 0;
  if (traffic) session.on('traffic:*', () => { events += 1; });
  const g = await session.open();
  await calls(g, args.warmup, IN_FLIGHT);
  const eventsBefore = events;
  const probe = new Probe(args.serverPid);
  const last = await calls(g, args.ops, IN_FLIGHT);
  const span = probe.finish();
  const seen = events - eventsBefore;
  checkVersion(args, last);
  await session.close();
  const metrics = perOp({}, span, args.ops);
  if (traffic) {
    metrics.events = seen / args.ops;
    metrics.lagged = 0; // enigma.js calls listeners synchronously: nothing can be missed
  }
  return metrics;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const run = workloads[args.workload];
  if (!run) throw new Error(`enigma.js has no workload ${args.workload}`);
  const schema = loadSchema(args.version);
  const metrics = await run(args, schema);
  process.stdout.write(`${JSON.stringify({
    client: 'enigma.js', workload: args.workload, ops: args.ops, metrics,
  })}\n`);
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`enigma-client ${process.argv[2]}: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
