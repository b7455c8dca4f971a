#!/usr/bin/env bash
# The project's one test command. From a fresh clone it installs the pinned tools into .venv,
# checks formatting, lints, the SAM template, starts the AWS emulator (moto) and `cargo lambda
# watch` on 127.0.0.1, runs every test, and stops what it started.
#
# Usage: infra/test.sh [--endpoint URL] [--emulator-only]
#   --endpoint URL   run the emulator tests, the HTTP contract and the demo against the AWS
#                    emulator already running at URL (e.g. LocalStack, http://127.0.0.1:4566)
#                    instead of a moto of its own; it is provisioned into (under fresh stack
#                    names) and left running. The least-privilege test still runs on a moto of
#                    its own: it switches on moto's IAM enforcement, which only moto has.
#   --emulator-only  only the steps that use an emulator (the tests, schemathesis, the demo);
#                    test.sh runs itself this way with --endpoint for its bring-your-own check.
# Ports: TEST_MOTO_PORT (default 4567), TEST_WATCH_PORT (default 9001); the IAM-enforcing moto
# of the least-privilege test listens on TEST_MOTO_PORT + 5; the burst's own cargo lambda watch
# on TEST_WATCH_PORT + 3; the demo at the end uses each port + 1, the bring-your-own-emulator run
# each + 7 (its burst watch + 10).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

moto_port=${TEST_MOTO_PORT:-4567}
watch_port=${TEST_WATCH_PORT:-9001}
burst_port=$((watch_port + 3))
watch_stack=it-watch
endpoint=""
emulator_only=false
while (($#)); do
  case $1 in
    --endpoint) endpoint=${2:?--endpoint needs a URL}; shift ;;
    --endpoint=*) endpoint=${1#--endpoint=} ;;
    --emulator-only) emulator_only=true ;;
    *) die "unknown argument $1 (usage: infra/test.sh [--endpoint URL] [--emulator-only])" ;;
  esac
  shift
done
# As in local.sh: with `localhost`, S3 clients would address buckets as <bucket>.localhost.
if [[ "$endpoint" =~ ^(https?://)localhost(:.*)?$ ]]; then
  endpoint="${BASH_REMATCH[1]}127.0.0.1${BASH_REMATCH[2]}"
fi
# An emulator that outlives this run keeps what it was given: fresh stack names every run.
[[ -z "$endpoint" ]] || watch_stack="it-watch-$(date +%s)"

if ! $emulator_only; then
  step "rustfmt --check"
  cargo fmt --all -- --check

  step "clippy (warnings denied)"
  cargo clippy --workspace --all-targets --locked -- -D warnings

  ensure_tools
  ensure_chromium

  step "cfn-lint template.yaml"
  "$VENV/bin/cfn-lint" template.yaml
  echo "ok: template.yaml lints clean"

  step "build"
  cargo build --workspace --all-targets --locked
else
  ensure_tools
  ensure_chromium
fi

if [[ -n "$endpoint" ]]; then
  step "use the AWS emulator at $endpoint (not started or stopped here); start cargo lambda watch"
  use_endpoint "$endpoint"
  wait_for_http "$endpoint" 10 || die "no AWS emulator answers at $endpoint"
else
  step "start the emulator and cargo lambda watch"
  use_emulator "$moto_port"
  start_moto "$moto_port"
fi
# A second moto for the least-privilege test, which switches IAM enforcement on there.
start_moto "$((moto_port + 5))"
export IAM_MOTO_URL="http://127.0.0.1:$((moto_port + 5))"
# The 200-POST burst (tests/burst) gets a function and tables of its own: moto deep-copies every
# table a transaction touches, so 200 more entries in the shared stack would slow every later
# append there past its attempt timeout. Provisioned first: `provision` exports the stack's
# VAULT_BUCKET and CHECKPOINT_KMS_KEY_ID, and the shared stack's must be the ones left.
provision "$watch_stack-burst"
start_watch "$burst_port" "$watch_stack-burst"
export BURST_INGEST_URL="http://127.0.0.1:$burst_port/lambda-url/ingest" BURST_WATCH_STACK="$watch_stack-burst"
provision "$watch_stack"
start_watch "$watch_port" "$watch_stack"
export INGEST_URL="http://127.0.0.1:$watch_port/lambda-url/ingest" WATCH_STACK="$watch_stack"

if $emulator_only; then
  step "cargo test: the emulator tests"
  cargo test --locked -p tests --test emulator --test burst
else
  step "cargo test (unit, property, known-answer and emulator tests)"
  cargo test --workspace --locked
fi

# --- The published HTTP contract (issue 16): schemathesis runs docs/openapi.yaml against the
# function URL: no 5xx, no undocumented status, content type or header, no schema violation.
step "HTTP contract: schemathesis checks the function URL against docs/openapi.yaml"
# From .local: its caches must not land where cargo lambda watch sees changes (it restarts).
(cd "$STATE" && "$VENV/bin/schemathesis" --config-file "$ROOT/infra/schemathesis.toml" \
  run "$ROOT/docs/openapi.yaml" --url "$INGEST_URL" --no-color)
# ---

if ! $emulator_only; then
  step "fuzz: every cargo-fuzz target for ${FUZZ_SECONDS:-30} s from its seed corpus (nightly)"
  # fuzz/ is its own workspace; new inputs go to a scratch corpus, the repository's stays small.
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version =0.13.2
  fuzz_target_dir="${CARGO_TARGET_DIR:-$ROOT/target}/fuzz"
  for target in ingest_handler validate_signal checkpoint_note audit_seal_note backup_csv manifest; do
    found=$(mktemp -d)
    cargo +nightly fuzz run --fuzz-dir fuzz --dev --sanitizer none --target-dir "$fuzz_target_dir" \
      "$target" "$found" "fuzz/corpus/$target" -- -max_total_time="${FUZZ_SECONDS:-30}" -max_len=70000 \
      || die "fuzz target $target failed; the crashing input is under fuzz/artifacts/$target"
    rm -rf "$found"
  done

  step "ledger format: independent Python re-implementation against the vectors"
  python3 docs/vectors/check_vectors.py
  # The checker must also fail when a vector is wrong: tamper with a copy and expect exactly
  # the failure that names the change.
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"; stop_started' EXIT
  # [checker]: the Python checker to run (default check_vectors.py), on the tampered file's folder.
  expect_rejected() { # <what> <file> <sed expression> <expected FAIL line prefix> [checker]
    rm -rf "${scratch:?}"/* && cp -r docs/vectors/. "$scratch/"
    sed -i "$3" "$scratch/$2"
    local rejected checker=${5:-docs/vectors/check_vectors.py}
    if rejected=$(python3 "$checker" "$scratch/$(dirname "$2")"); then
      die "$(basename "$checker") accepted a tampered $1"
    fi
    grep -q "^$4" <<<"$rejected" \
      || die "$(basename "$checker") rejected the tampered $1 for another reason: $rejected"
    echo "ok: a tampered $1 is rejected"
  }
  expect_rejected "entry vector" entries.json 's/"symbol": "AAPL"/"symbol": "AAPM"/' \
    'FAIL entry 0: canonical bytes differ'
  # A delivery receipt (section 10): another subscriber under the same hash.
  expect_rejected "receipt vector" receipts.json 's/"subscriber": "a"/"subscriber": "b"/' \
    'FAIL receipt 2: receipt hash differs'
  # The sealed audit log (section 11): an audit item's actor rewritten.
  expect_rejected "audit seal vector" audit_seal.json 's#user/alice#user/mallory#' \
    'FAIL audit_seal.json: item 0: canonical bytes differ'
  # A proof served over HTTP (section 13): a verified inclusion path with one hash changed.
  expect_rejected "proof vector" proofs.json \
    '0,/"a26400ae8f3153/s//"b26400ae8f3153/' \
    'FAIL proofs.json: inclusion: entry 0 in the tree of size 2: refused, expected verified'
  # ...and when an evidence folder's expected verdict is wrong (section 12.2, check_evidence.py).
  rm -rf "${scratch:?}"/* && cp -r docs/vectors/. "$scratch/"
  sed -i '0,/"leaves_digest"/s//"leaves_line"/' "$scratch/failing/evidence.json"
  if rejected=$(python3 "$scratch/check_vectors.py" "$scratch"); then
    die "check_vectors.py accepted a wrong expected verdict in failing/evidence.json"
  fi
  grep -q '^FAIL evidence.json: a truncated leaf-hash file' <<<"$rejected" \
    || die "check_vectors.py rejected the edited failing/evidence.json for another reason: $rejected"
  echo "ok: a wrong expected verdict in failing/evidence.json is caught"
  python3 docs/vectors/backup/check_backup.py
  # ...and when an expected refusal of a backup CSV that must fail is wrong (section 8.5).
  rm -rf "${scratch:?}"/* && cp -r docs/vectors/. "$scratch/"
  sed -i '0,/"code": "needless_quotes"/s//"code": "text_after_quote"/' "$scratch/failing/backups.json"
  if rejected=$(python3 "$scratch/backup/check_backup.py"); then
    die "check_backup.py accepted a wrong expected refusal in backups.json"
  fi
  grep -q '^FAIL backups.json: quotes around a cell that needs none' <<<"$rejected" \
    || die "check_backup.py rejected the edited backups.json for another reason: $rejected"
  echo "ok: a wrong expected refusal in backups.json is caught"
  # A backup's receipts CSV (section 8.6): a receipt's subscriber rewritten in the CSV.
  expect_rejected "receipts backup CSV" backup/receipts_backup_20261129.csv \
    's/mobile:push-2/mobile:push-3/' 'FAIL receipts row 3: the row does not re-hash to its receipt_hash' \
    docs/vectors/backup/check_backup.py

  step "evidence folders: ledgerctl verify-evidence and check_evidence.py on 150 tampered folders"
  # Seeded, so a failure replays; the emulator test verify_evidence compares them on real exports.
  python3 infra/evidence_differential.py "${CARGO_TARGET_DIR:-$ROOT/target}/debug/ledgerctl" \
    --seed 1 --cases 150
fi

stop_started
if [[ -n "$endpoint" ]]; then
  if ! $emulator_only; then
    step "the README's run command with --endpoint: a day in the life on $endpoint, every verdict PASS"
    WATCH_PORT=$((watch_port + 1)) STACK_NAME="demo-$(date +%s)" "$ROOT/infra/local.sh" --stop --endpoint "$endpoint"
  fi
  step "all checks passed against $endpoint"
  exit 0
fi

step "the README's run command, end to end on its own emulator: a day in the life, every verdict PASS"
MOTO_PORT=$((moto_port + 1)) WATCH_PORT=$((watch_port + 1)) STACK_NAME=demo "$ROOT/infra/local.sh" --stop

# --- Bring your own emulator (issue 16): local.sh --endpoint provisions into and runs against an
# emulator it did not start (here a moto on port +7, standing in for LocalStack) and leaves it up;
# then this command runs its emulator steps against it (--endpoint --emulator-only: one level
# deep, since a run with --endpoint never starts another one).
step "the run command with --endpoint: a day in the life on an emulator started separately"
byo_port=$((moto_port + 7))
start_moto "$byo_port"
WATCH_PORT=$((watch_port + 7)) STACK_NAME=byo "$ROOT/infra/local.sh" --stop --endpoint "http://localhost:$byo_port"
"$VENV/bin/python" - "http://127.0.0.1:$byo_port" <<'EOT' || die "local.sh --endpoint did not provision into the emulator, or stopped it"
import sys, boto3
tables = boto3.client("dynamodb", endpoint_url=sys.argv[1]).list_tables()["TableNames"]
assert {"byo-signals", "byo-audit"} <= set(tables), tables
EOT
echo "ok: provisioned into the external emulator, which is still running"
step "the test command with --endpoint: the emulator tests and the HTTP contract on that emulator"
TEST_MOTO_PORT="$moto_port" TEST_WATCH_PORT=$((watch_port + 7)) \
  "$ROOT/infra/test.sh" --endpoint "http://localhost:$byo_port" --emulator-only
"$VENV/bin/python" - "http://127.0.0.1:$byo_port" <<'EOT' || die "test.sh --endpoint did not run against the external emulator"
import sys, boto3
tables = boto3.client("dynamodb", endpoint_url=sys.argv[1]).list_tables()["TableNames"]
assert any(t.startswith("it-watch-") and t.endswith("-signals") for t in tables), tables
EOT
echo "ok: the test command ran against the external emulator, which is still running"
stop_started
# ---

step "all checks passed"
