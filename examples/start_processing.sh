#!/usr/bin/env bash
# Sends requests through the seven-service chain, one after another, and
# prints each answer with the ID of its trace; run `make demo` first.
#
#   examples/start_processing.sh [N]   # N requests, 10 by default
#
# HTTP_SVC_PORT is http-svc's port (50000 by default), VIEWER the trace
# viewer's address (localhost:16686).
set -euo pipefail

n=${1:-10}
if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [number of requests, default 10]" >&2
  exit 2
fi
url="http://localhost:${HTTP_SVC_PORT:-50000}/api"
viewer="http://${VIEWER:-localhost:16686}"

ok=0
for i in $(seq 1 "$n"); do
  # -D - puts the response headers on stdout, -w the status after them.
  if out=$(curl -sS -o /dev/null -D - -w '%{http_code}' -X POST "$url" \
      -H 'Content-Type: application/json' \
      -d "{\"firstname\":\"John\",\"lastname\":\"Doe $i\"}"); then
    code=${out##*$'\n'}
    trace=$(printf '%s\n' "$out" | tr -d '\r' | sed -n 's/^[Xx]-[Tt]race-[Ii]d: *//p')
  else
    code=000 trace=
  fi
  if [[ $code == 201 ]]; then
    ok=$((ok + 1))
    echo "request $i/$n: $code  $viewer/trace/$trace"
  else
    echo "request $i/$n: $code (want 201)" >&2
  fi
done
echo "$ok of $n requests answered 201; all traces: $viewer/search?service=http-svc"
[[ $ok == "$n" ]]
