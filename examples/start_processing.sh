#!/usr/bin/env bash
# Sends the request that starts the seven-service chain; run `make demo` first.
set -euo pipefail
curl -sS -i -X POST "http://localhost:${HTTP_SVC_PORT:-50000}/api" \
  -H 'Content-Type: application/json' \
  -d '{"firstname":"John","lastname":"Doe"}'
echo
