#!/usr/bin/env bash
# Runs the system locally: installs the pinned tools into .venv, starts the AWS emulator (moto) and
# `cargo lambda watch` on 127.0.0.1, provisions the stack from template.yaml, and runs a day in
# the life (infra/day_in_the_life.py): signals, refusals, backup, verification, sweeps and the
# compliance report, ending with the verdicts. Then it keeps the stack running until Ctrl-C, or
# stops at once with --stop (the default when there is no terminal, as in CI). It exits non-zero
# if any step fails or any verdict is not PASS.
#
# Usage: infra/local.sh [--stop] [--endpoint URL]
#   --endpoint URL  use the AWS emulator already running at URL (e.g. LocalStack,
#                   http://127.0.0.1:4566) instead of starting moto; it is provisioned into and
#                   left running. `localhost` is replaced by 127.0.0.1 (see README).
# Ports: MOTO_PORT (default 4566, LocalStack's), WATCH_PORT (default 9000). Stack: STACK_NAME.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

moto_port=${MOTO_PORT:-4566}
watch_port=${WATCH_PORT:-9000}
stack=${STACK_NAME:-signal-ledger}
keep_running=true
[[ -t 0 ]] || keep_running=false
endpoint=""
while (($#)); do
  case $1 in
    --stop) keep_running=false ;;
    --endpoint) endpoint=${2:?--endpoint needs a URL}; shift ;;
    --endpoint=*) endpoint=${1#--endpoint=} ;;
    *) die "unknown argument $1 (usage: infra/local.sh [--stop] [--endpoint URL])" ;;
  esac
  shift
done
# With a host name, S3 clients address buckets as <bucket>.<host>, which does not resolve for
# localhost; with an IP address they use path-style requests (ARCHITECTURE.md, emulator notes).
if [[ "$endpoint" =~ ^(https?://)localhost(:.*)?$ ]]; then
  endpoint="${BASH_REMATCH[1]}127.0.0.1${BASH_REMATCH[2]}"
fi

ensure_tools
step "build the functions and ledgerctl"
cargo build --locked -p ingest -p integrity-sweep -p backup -p verify-backup -p report -p ledgerctl

if [[ -n "$endpoint" ]]; then
  step "use the AWS emulator at $endpoint (not started or stopped here) and provision $stack (tables, vault, signing key) from template.yaml"
  use_endpoint "$endpoint"
  wait_for_http "$endpoint" 10 || die "no AWS emulator answers at $endpoint"
else
  step "start the emulator on 127.0.0.1:$moto_port and provision $stack (tables, vault, signing key) from template.yaml"
  use_emulator "$moto_port"
  start_moto "$moto_port"
fi
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

step "a day in the life: signals, refusals, backup, verification, sweeps, the compliance report"
"$VENV/bin/python" infra/day_in_the_life.py "http://127.0.0.1:$watch_port" "$STATE/reports"
invoke="http://127.0.0.1:$watch_port/2015-03-31/functions"
id=$(curl -s -X POST "$url/signals" -H 'content-type: application/json' -d "$(printf '{"symbol":"AAPL","action":"BUY","entry_price":"189.40","rationale":"Breakout above the 50-day moving average on rising volume.","generated_at":"%s"}' "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)")" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["signal_id"])')

cat <<EOT

The stack: the emulator on $AWS_ENDPOINT_URL (tables $stack-signals and $stack-audit, vault bucket
$VAULT_BUCKET, checkpoint signing key $CHECKPOINT_KMS_KEY_ID); cargo lambda watch serves the
functions on 127.0.0.1:$watch_port and rebuilds them when the code changes. Explore (in a shell
with: source infra/lib.sh && use_endpoint $AWS_ENDPOINT_URL):
  curl $url/signals/$id
  curl -X POST $invoke/integrity-sweep/invocations -d @infra/events/integrity-sweep-incremental.json
  curl -X POST $invoke/report/invocations -d '{"last_days": 7}'
  cargo run -q -p ledgerctl -- trace $id --signals-table $stack-signals --audit-table $stack-audit --bucket $VAULT_BUCKET
  .venv/bin/python -c "import boto3; [print(v['Key']) for v in boto3.client('s3').list_object_versions(Bucket='$VAULT_BUCKET')['Versions']]"
Reports: $STATE/reports/   Logs: .local/watch-$watch_port.log (JSON logs, EMF metrics)$([[ -n "$endpoint" ]] || echo ", .local/moto-$moto_port.log")
EOT
if $keep_running; then
  echo
  echo "Running. Press Ctrl-C to stop everything this command started."
  trap 'echo; echo "stopping"; exit 0' INT TERM
  while true; do sleep 3600; done
fi
echo "Stopping (pass no --stop, from a terminal, to keep the stack running)."
