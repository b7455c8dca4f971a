#!/usr/bin/env bash
# Runs the system locally: installs the pinned tools into .venv, starts the AWS emulator (moto) and
# `cargo lambda watch` on 127.0.0.1, provisions the tables from template.yaml, and demonstrates
# the ingest function with curl. Then it keeps the stack running until Ctrl-C, or stops at once
# with --stop (the default when there is no terminal, as in CI).
#
# Usage: infra/local.sh [--stop]
# Ports: MOTO_PORT (default 4566, LocalStack's), WATCH_PORT (default 9000). Stack: STACK_NAME.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

moto_port=${MOTO_PORT:-4566}
watch_port=${WATCH_PORT:-9000}
stack=${STACK_NAME:-signal-ledger}
keep_running=true
[[ "${1:-}" == "--stop" || ! -t 0 ]] && keep_running=false

ensure_tools
step "build the functions and ledgerctl"
cargo build --locked -p ingest -p integrity-sweep -p backup -p verify-backup -p ledgerctl

step "start the emulator on 127.0.0.1:$moto_port and provision $stack (tables, vault, signing key) from template.yaml"
use_emulator "$moto_port"
start_moto "$moto_port"
provision "$stack"

step "start cargo lambda watch on 127.0.0.1:$watch_port"
start_watch "$watch_port" "$stack"
url="http://127.0.0.1:$watch_port/lambda-url/ingest"

# show DESCRIPTION CURL-ARGS...: prints the command, runs it, prints status and JSON body.
show() {
  local description=$1; shift
  printf '\n--- %s\n$ curl' "$description"
  printf ' %q' "$@"
  printf '\n'
  curl -s -w '\nHTTP %{http_code}\n' "$@" | python3 -c '
import json, sys
text = sys.stdin.read()
body, _, status = text.rpartition("\n" + "HTTP ")
try:
    body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
except ValueError:
    pass
print(body); print("HTTP " + status.strip())'
}

step "demo: the ingest function's contract"
id="demo-$(date -u +%Y%m%dT%H%M%S)"
now=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
signal=$(printf '{"signal_id":"%s","symbol":"AAPL","action":"BUY","entry_price":"189.40","target_price":205,"stop_loss":"182.5","confidence":0.74,"rationale":"Breakout above the 50-day moving average on 2.1x average volume; sector strength confirms.","generated_at":"%s","producer":"local-demo"}' "$id" "$now")
show "a valid signal is appended (201)" -X POST "$url/signals" -H 'content-type: application/json' -d "$signal"
show "replaying it is idempotent (200, same chain_index)" -X POST "$url/signals" -H 'content-type: application/json' -d "$signal"
show "a rationale that is too short is refused (400, problem+json)" -X POST "$url/signals" -H 'content-type: application/json' \
  -d "$(printf '{"symbol":"AAPL","action":"BUY","entry_price":189.4,"rationale":"Short","generated_at":"%s"}' "$now")"
show "signals are immutable: a modification attempt is refused and audited (405)" -X PUT "$url/signals/$id" \
  -H 'content-type: application/json' -d '{"entry_price": 1}'
show "the stored entry, with its hash chain fields" "$url/signals/$id"

step "demo: the integrity sweep (init, incremental, full) with signed checkpoints in the vault"
invoke="http://127.0.0.1:$watch_port/2015-03-31/functions/integrity-sweep/invocations"
for mode in init incremental full; do
  printf '$ curl -X POST %s -d @infra/events/integrity-sweep-%s.json\n' "$invoke" "$mode"
  curl -s -X POST "$invoke" -H 'content-type: application/json' -d @"infra/events/integrity-sweep-$mode.json" | python3 -c '
import json, sys
record = json.load(sys.stdin)
if "status" not in record:
    sys.exit("the sweep failed: " + json.dumps(record))
print("  {mode}: {status}, {entries_verified} entries verified, tree size {tree_size}, root {root}".format(**record))
print("  " + record["message"])'
done

step "demo: the nightly backup and its verification (with the restore drill)"
functions="http://127.0.0.1:$watch_port/2015-03-31/functions"
printf '$ curl -X POST %s/backup/invocations -d @infra/events/backup.json\n' "$functions"
curl -s -X POST "$functions/backup/invocations" -d @infra/events/backup.json | python3 -c '
import json, sys
outcome = json.load(sys.stdin)
if "manifest_key" not in outcome:
    sys.exit("the backup failed: " + json.dumps(outcome))
print("  backup {backup_id}: {row_count} rows -> {csv_key}, manifest {manifest_key}".format(**outcome))'
printf '$ curl -X POST %s/verify-backup/invocations -d @infra/events/verify-backup-all.json\n' "$functions"
curl -s -X POST "$functions/verify-backup/invocations" -d @infra/events/verify-backup-all.json | python3 -c '
import json, sys
result = json.load(sys.stdin)
if "passed" not in result:
    sys.exit("the verification failed: " + json.dumps(result))
drill = result.get("restore_drill") or {}
print("  verification: passed={passed}, {manifests_checked} manifest(s), {rows_checked} rows".format(**result)
      + ", restore drill matches: {}".format(drill.get("matches")))'

cat <<EOT

The stack: moto on $AWS_ENDPOINT_URL (tables $stack-signals and $stack-audit, vault bucket
$VAULT_BUCKET, checkpoint signing key $CHECKPOINT_KMS_KEY_ID), the ingest function at $url/
and the integrity sweep at $invoke (cargo lambda watch rebuilds them when the code changes).
Try it:
  curl -X POST $url/signals -H 'content-type: application/json' -d '$signal'
  curl $url/signals/$id
  curl -X POST $invoke -d '{"mode": "incremental"}'
Logs: .local/watch-$watch_port.log (JSON request logs and EMF metric lines), .local/moto-$moto_port.log
EOT
if $keep_running; then
  echo
  echo "Running. Press Ctrl-C to stop everything this command started."
  trap 'echo; echo "stopping"; exit 0' INT TERM
  while true; do sleep 3600; done
fi
echo "Stopping (pass no --stop, from a terminal, to keep the stack running)."
