//! Integration tests against the emulator: the DynamoDB adapters, the append protocol under
//! concurrency and faults, the HTTP contract through `cargo lambda watch` (and
//! `docs/openapi.yaml` against the router), the example producers, and the template.
//!
//! Run through `infra/test.sh`, which starts moto and `cargo lambda watch` and sets
//! `AWS_ENDPOINT_URL`, `INGEST_URL` and `WATCH_STACK`. Each test provisions its own tables
//! (a fresh stack name), so tests run in parallel.

// This whole crate is tests: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod backup;
mod export;
mod full_pass;
mod group_commit;
mod ingest;
mod least_privilege;
mod openapi;
mod produce;
mod producers;
mod proofs;
mod receipts;
mod receipts_backup;
mod report;
mod restore;
mod seal;
mod support;
mod sweep;
mod template;
mod trace;
mod trust;
mod vault;
mod verify_evidence;
