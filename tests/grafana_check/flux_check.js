// Type-check Flux scripts with InfluxData's Flux language server (@influxdata/flux-lsp-node, WASM).
// Usage: node flux_check.js OUT.json < scripts.json
// Input (stdin): JSON [{"id": "...", "text": "..."}]. Output (OUT.json; the server logs to stdout): JSON
// {"server": "flux-lsp 0.8.40", "results": {"<id>": [diagnostic, ...]}}: every diagnostic the server
// publishes (errors and warnings alike). Each script is opened in a directory of its own, because the
// server analyses all documents of one directory as one package.
'use strict';
const path = require('path');
const { Lsp } = require(path.join(__dirname, 'node_modules', '@influxdata', 'flux-lsp-node'));

const TIMEOUT_MS = 120000; // a busy 2-core machine: generous; the answer usually comes within ms

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { data += chunk; });
    process.stdin.on('end', () => resolve(data));
    process.stdin.on('error', reject);
  });
}

async function main() {
  if (!process.argv[2]) throw new Error('usage: node flux_check.js OUT.json < scripts.json');
  const scripts = JSON.parse(await readStdin());
  const lsp = new Lsp();
  const results = {};
  const uriToId = new Map();
  let pending = scripts.length;
  let done;
  const allDone = new Promise((resolve) => { done = resolve; });
  lsp.onMessage((message) => {
    const msg = JSON.parse(message);
    if (msg.method !== 'textDocument/publishDiagnostics') return;
    const id = uriToId.get(msg.params.uri);
    if (id === undefined) return;
    const first = !(id in results);
    results[id] = msg.params.diagnostics;
    if (first && --pending === 0) done();
  });
  lsp.run().catch((err) => { console.error('flux-lsp stopped: ' + err); process.exit(2); });
  const init = JSON.parse(await lsp.send(JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize', params: { processId: null, rootUri: null, capabilities: {} },
  })));
  await lsp.send(JSON.stringify({ jsonrpc: '2.0', method: 'initialized', params: {} }));
  const info = init.result && init.result.serverInfo;
  scripts.forEach((script, i) => uriToId.set(`file:///qostui/${i}/query.flux`, script.id));
  if (pending === 0) done();
  for (const [i, script] of scripts.entries()) {
    await lsp.send(JSON.stringify({
      jsonrpc: '2.0', method: 'textDocument/didOpen',
      params: { textDocument: { uri: `file:///qostui/${i}/query.flux`, languageId: 'flux', version: 1, text: script.text } },
    }));
  }
  const timer = setTimeout(() => {
    console.error(`flux-lsp published no diagnostics for ${pending} script(s) within ${TIMEOUT_MS} ms`);
    process.exit(3);
  }, TIMEOUT_MS);
  await allDone;
  clearTimeout(timer);
  const answer = JSON.stringify({ server: info ? `${info.name} ${info.version}` : 'flux-lsp', results });
  require('fs').writeFileSync(process.argv[2], answer);
  process.exit(0);
}

main().catch((err) => { console.error(String(err && err.stack || err)); process.exit(1); });
