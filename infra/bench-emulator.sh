#!/usr/bin/env bash
# Benchmarks that need the emulator: starts moto on 127.0.0.1 (BENCH_MOTO_PORT, default 4568),
# runs them, stops moto. Usage: infra/bench-emulator.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
trap stop_started EXIT
ensure_tools
use_emulator "${BENCH_MOTO_PORT:-4568}"
start_moto "${BENCH_MOTO_PORT:-4568}"
step "appends per second against the emulator (1, 4, 16 writers)"
cargo bench --locked -p tests --bench append_throughput
step "full-sweep throughput over ${SWEEP_BENCH_ENTRIES:-100000} entries"
cargo bench --locked -p tests --bench sweep_throughput
step "full sweep over ${SWEEP_BENCH_CHECKPOINTS:-10000} checkpoints"
cargo bench --locked -p tests --bench sweep_checkpoints
step "full re-verification of ${SEAL_BENCH_SEALS:-500} audit seals"
cargo bench --locked -p tests --bench sweep_seals
step "the resumable full pass over ${FULL_PASS_BENCH_ENTRIES:-20000} entries in steps of ${FULL_PASS_BENCH_BUDGET_SECONDS:-10} s"
cargo bench --locked -p tests --bench sweep_full_pass
step "backup of ${BACKUP_BENCH_ENTRIES:-100000} entries: wall time, peak RSS, verification rows/s, the compliance report"
cargo bench --locked -p tests --bench backup_throughput --no-run
bench=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/backup_throughput-* | grep -v '\.d$' | head -n 1)
export BACKUP_BENCH_STACK="backupbench-$(date +%s)"
for phase in seed backup verify report; do
  /usr/bin/time -f "$phase: peak RSS %M KiB, wall %e s" "$bench" "$phase"
done
