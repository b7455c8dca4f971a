# Shared helpers of infra/local.sh and infra/test.sh (sourced, not run).
# Everything binds to 127.0.0.1; everything started here is stopped by stop_started.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
STATE="$ROOT/.local"
STARTED_PIDS=()

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs the pinned tools (moto, cargo-lambda, cfn-lint, schemathesis) into .venv when missing or outdated.
ensure_tools() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(cat "$ROOT/infra/requirements.txt" "$ROOT/infra/constraints.txt" | sha256sum | cut -d' ' -f1)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  step "installing pinned tools into .venv (moto, cargo-lambda, cfn-lint, schemathesis)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    -r "$ROOT/infra/requirements.txt" -c "$ROOT/infra/constraints.txt"
  echo "$want" > "$stamp"
}

# Headless Chromium (Debian's package), for the test that renders the HTML report.
ensure_chromium() {
  if command -v chromium >/dev/null; then
    return
  fi
  step "installing Debian's chromium (renders the HTML report in a test)"
  command -v apt-get >/dev/null || die "chromium is missing and apt-get is not available: install Debian's chromium package"
  local sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium >/dev/null \
    || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q chromium >/dev/null; } \
    || die "could not install chromium"
  chromium --version
}

# Dummy credentials and the emulator endpoint, for every AWS SDK and CLI in this shell.
use_emulator() {
  use_endpoint "http://127.0.0.1:$1"
}

# use_endpoint URL: the same for an emulator at any URL (e.g. a LocalStack the user runs).
use_endpoint() {
  export AWS_ENDPOINT_URL="$1"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# wait_for_http URL SECONDS: until URL answers any HTTP status.
wait_for_http() {
  local url=$1 deadline=$((SECONDS + $2))
  until curl -s -o /dev/null "$url"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.2
  done
}

# Starts moto on 127.0.0.1:PORT unless one already answers there (then it is reused, not stopped).
start_moto() {
  local port=$1
  if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
    echo "moto already running on 127.0.0.1:$port; reusing it"
    return
  fi
  mkdir -p "$STATE"
  # setsid: each started tool leads its own process group, so stop_started stops its children too.
  # moto_serialized.py: moto itself, one request at a time (see the file for why).
  setsid "$VENV/bin/python" "$ROOT/infra/moto_serialized.py" -H 127.0.0.1 -p "$port" > "$STATE/moto-$port.log" 2>&1 &
  STARTED_PIDS+=($!)
  wait_for_http "http://127.0.0.1:$port/moto-api/" 30 \
    || die "moto did not start on 127.0.0.1:$port (see $STATE/moto-$port.log)"
  echo "moto listening on 127.0.0.1:$port"
}

# Provisions the template's tables, vault bucket and signing key for STACK on the current
# emulator, and exports VAULT_BUCKET and CHECKPOINT_KMS_KEY_ID (ledgerctl's last stdout line).
provision() {
  local exports
  exports=$(cargo run --quiet --locked -p ledgerctl -- provision --stack-name "$1" --template "$ROOT/template.yaml" | tail -n 1)
  [[ "$exports" == VAULT_BUCKET=*" CHECKPOINT_KMS_KEY_ID="* ]] || die "unexpected provisioning output: $exports"
  export $exports
}

# start_watch PORT STACK: cargo lambda watch on 127.0.0.1:PORT, functions configured for STACK.
# One instance per function: its --concurrency mode (1.9.2) dropped the runtime connections of
# its instances under a burst of 200 requests (hyper IncompleteMessage) and then hung.
start_watch() {
  local port=$1 stack=$2
  mkdir -p "$STATE"
  local env="SIGNALS_TABLE=$stack-signals,AUDIT_TABLE=$stack-audit,METRICS_NAMESPACE=SignalLedger,ALARM_NAME_PREFIX=$stack-"
  env="$env,VAULT_BUCKET=$VAULT_BUCKET,CHECKPOINT_KMS_KEY_ID=$CHECKPOINT_KMS_KEY_ID"
  env="$env,AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL,AWS_REGION=$AWS_REGION"
  env="$env,AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
  (cd "$ROOT" && exec setsid "$VENV/bin/cargo-lambda" lambda watch -A 127.0.0.1 -P "$port" --env-var "$env") \
    > "$STATE/watch-$port.log" 2>&1 &
  STARTED_PIDS+=($!)
  # The first request to a function builds and starts it; wait until the function itself answers.
  local url="http://127.0.0.1:$port/lambda-url/ingest/signals/readiness-probe"
  local deadline=$((SECONDS + 600))
  until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url")" == 404 ]]; do
    (( SECONDS < deadline )) || die "cargo lambda watch did not serve the ingest function (see $STATE/watch-$port.log)"
    kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || die "cargo lambda watch exited (see $STATE/watch-$port.log)"
    sleep 1
  done
  echo "cargo lambda watch serving http://127.0.0.1:$port/lambda-url/ingest/"
}

stop_started() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    # The whole process group: cargo lambda watch runs `cargo run`, which runs the function.
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    fi
  done
  # A group still running 15 s after SIGTERM is killed (a moto was once seen ignoring it, and
  # the wait below then never returned).
  local watchdog
  for pid in "${STARTED_PIDS[@]}"; do
    ( sleep 15; kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null ) &
    watchdog=$!
    wait "$pid" 2>/dev/null || true
    kill "$watchdog" 2>/dev/null || true
  done
  STARTED_PIDS=()
}
