#!/usr/bin/env bash
# The project's one test command. From a fresh clone it installs the pinned tools into .venv,
# checks formatting, lints, the SAM template, starts the AWS emulator (moto) and `cargo lambda
# watch` on 127.0.0.1, runs every test, and stops what it started.
#
# Usage: infra/test.sh      Ports: TEST_MOTO_PORT (default 4567), TEST_WATCH_PORT (default 9001);
# the IAM-enforcing moto of the least-privilege test listens on TEST_MOTO_PORT + 5; the demo at
# the end uses each port + 1, the bring-your-own-emulator run each + 7.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT

moto_port=${TEST_MOTO_PORT:-4567}
watch_port=${TEST_WATCH_PORT:-9001}
watch_stack=it-watch

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

step "start the emulator and cargo lambda watch"
use_emulator "$moto_port"
start_moto "$moto_port"
# A second moto for the least-privilege test, which switches IAM enforcement on there.
start_moto "$((moto_port + 5))"
export IAM_MOTO_URL="http://127.0.0.1:$((moto_port + 5))"
provision "$watch_stack"
start_watch "$watch_port" "$watch_stack"
export INGEST_URL="http://127.0.0.1:$watch_port/lambda-url/ingest" WATCH_STACK="$watch_stack"

step "cargo test (unit, property, known-answer and emulator tests)"
cargo test --workspace --locked

# --- The published HTTP contract (issue 16): schemathesis runs docs/openapi.yaml against the
# function URL: no 5xx, no undocumented status, content type or header, no schema violation.
step "HTTP contract: schemathesis checks the function URL against docs/openapi.yaml"
# From .local: its caches must not land where cargo lambda watch sees changes (it restarts).
(cd "$STATE" && "$VENV/bin/schemathesis" --config-file "$ROOT/infra/schemathesis.toml" \
  run "$ROOT/docs/openapi.yaml" --url "$INGEST_URL" --no-color)
# ---

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
# The checker must also fail when a vector is wrong: tamper with a copy and expect a failure.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"; stop_started' EXIT
cp -r docs/vectors/. "$scratch/"
sed -i 's/"symbol": "AAPL"/"symbol": "AAPM"/' "$scratch/entries.json"
if rejected=$(python3 docs/vectors/check_vectors.py "$scratch"); then
  die "check_vectors.py accepted a tampered vector file"
fi
grep -q '^FAIL entry 0: canonical bytes differ' <<<"$rejected" \
  || die "check_vectors.py rejected the tampered copy for another reason: $rejected"
echo "ok: a tampered copy of the vectors is rejected"
# The same for the sealed audit log (ledger-format section 10): an audit item's actor rewritten.
cp -r docs/vectors/. "$scratch/"
sed -i 's#user/alice#user/mallory#' "$scratch/audit_seal.json"
if rejected=$(python3 docs/vectors/check_vectors.py "$scratch"); then
  die "check_vectors.py accepted a tampered audit seal vector"
fi
grep -q '^FAIL audit_seal.json: item 0: canonical bytes differ' <<<"$rejected" \
  || die "check_vectors.py rejected the tampered audit seal vector for another reason: $rejected"
echo "ok: a tampered copy of the audit seal vector is rejected"
python3 docs/vectors/backup/check_backup.py

step "the README's run command, end to end on its own emulator: a day in the life, every verdict PASS"
stop_started
MOTO_PORT=$((moto_port + 1)) WATCH_PORT=$((watch_port + 1)) STACK_NAME=demo "$ROOT/infra/local.sh" --stop

# --- Bring your own emulator (issue 16): local.sh --endpoint provisions into and runs against an
# emulator it did not start (here a moto on port +7, standing in for LocalStack) and leaves it up.
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
stop_started
# ---

step "all checks passed"
