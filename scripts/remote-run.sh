#!/usr/bin/env bash
# Runs the example system tests in remote mode: starts moto's DynamoDB server and the standalone example
# service behind its SigV4 front door (both on 127.0.0.1, ephemeral ports), runs the suite signed with the
# right key with --preflight (must pass), then with a wrong secret (must fail with an authentication error, and
# with --preflight must stop before any test, naming the signature). Stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python -m moto.server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  python -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done

secret=$(python -c 'import secrets; print(secrets.token_urlsafe(30))')
printf '{"AKIDCIREMOTERUN": "%s"}' "$secret" >"$work/creds.json"
python -m example_service --dynamodb-endpoint "http://127.0.0.1:$port" --grpc-port 0 --http-port 0 \
  --sigv4-credentials "$work/creds.json" >"$work/ready" 2>"$work/service.log" &
pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || { echo "example service did not become ready:"; cat "$work/service.log"; exit 1; }
grpc=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["grpc"])' "$work/ready")
http=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["http"])' "$work/ready")
echo "example service: grpc $grpc, http $http"

export AWS_ACCESS_KEY_ID=AKIDCIREMOTERUN AWS_DEFAULT_REGION=us-east-1
set +e
AWS_SECRET_ACCESS_KEY="$secret" python -m pytest tests/system -p no:cacheprovider -q \
  --addr "$grpc" --http-addr "$http" --grpc-plaintext --preflight | tee "$work/good.log"
good=${PIPESTATUS[0]}
AWS_SECRET_ACCESS_KEY="wrong-$secret" python -m pytest tests/system -p no:cacheprovider -q -x \
  --addr "$grpc" --http-addr "$http" --grpc-plaintext >"$work/bad.log" 2>&1
bad=$?
AWS_SECRET_ACCESS_KEY="wrong-$secret" python -m pytest tests/system -p no:cacheprovider -q \
  --addr "$grpc" --http-addr "$http" --grpc-plaintext --preflight >"$work/preflight.log" 2>&1
preflight=$?
set -e
[ "$good" = 0 ] || { echo "remote run failed (exit $good)"; exit 1; }
[ "$bad" != 0 ] || { echo "a run with a wrong secret passed"; exit 1; }
grep -qE 'UNAUTHENTICATED|403' "$work/bad.log" || { tail -n 20 "$work/bad.log"; echo "wrong secret: no authentication error"; exit 1; }
[ "$preflight" = 4 ] && grep -q 'signature rejected' "$work/preflight.log" \
  || { tail -n 20 "$work/preflight.log"; echo "wrong secret: --preflight did not stop the run naming the signature"; exit 1; }
if grep -qF -- "$secret" "$work/good.log" "$work/bad.log" "$work/preflight.log"; then echo "the secret appeared in pytest output"; exit 1; fi
echo "remote run passed (after --preflight); a wrong secret was rejected with an authentication error, and by"
echo "--preflight before any test; the secret was never printed"
