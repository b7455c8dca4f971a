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
