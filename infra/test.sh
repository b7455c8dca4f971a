#!/usr/bin/env bash
# The project's one test command: formatting, lints, every test, and the format's independent check.
# Usage: infra/test.sh        (from anywhere; CI runs it through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "rustfmt --check"
cargo fmt --all -- --check

step "clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property and known-answer tests)"
cargo test --workspace --locked

step "ledger format: independent Python re-implementation against the vectors"
python3 docs/vectors/check_vectors.py
# The checker must also fail when a vector is wrong: tamper with a copy and expect a failure.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp docs/vectors/*.json "$scratch/"
sed -i 's/"symbol": "AAPL"/"symbol": "AAPM"/' "$scratch/entries.json"
if python3 docs/vectors/check_vectors.py "$scratch" >/dev/null; then
  echo "check_vectors.py accepted a tampered vector file" >&2
  exit 1
fi
echo "ok: a tampered copy of the vectors is rejected"

step "all checks passed"
