// Waits until a TLS listener completes a handshake whose certificate verifies against a CA file
// (and matches the host, e.g. the IP SAN 127.0.0.1). Node built-ins only.
// Usage: node wait-tls.js host:port ca.pem seconds. Exit 0 when it does, 1 when not within the time
// (the last error on stderr).
'use strict';
const fs = require('fs');
const tls = require('tls');
const [target = '127.0.0.1:9094', caFile, seconds = '60'] = process.argv.slice(2);
const i = target.lastIndexOf(':');
const host = target.slice(0, i);
const port = Number(target.slice(i + 1));
const deadline = Date.now() + Number(seconds) * 1000;
let lastError = 'no attempt';

function attempt(ca) {
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, ca, timeout: 3000 }, () => {
      socket.end();
      resolve(true);
    });
    const fail = (err) => {
      lastError = err ? err.message : 'timeout';
      socket.destroy();
      resolve(false);
    };
    socket.on('error', fail);
    socket.on('timeout', () => fail(null));
  });
}

async function main() {
  for (;;) {
    let ca;
    try {
      ca = fs.readFileSync(caFile);
    } catch (err) {
      lastError = err.message;
    }
    if (ca && (await attempt(ca))) return 0;
    if (Date.now() > deadline) {
      process.stderr.write(`TLS handshake with ${target} failed: ${lastError}\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
main().then((code) => process.exit(code));
