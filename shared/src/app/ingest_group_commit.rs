//! The group-commit append protocol (ARCHITECTURE.md, "Group commit"), over
//! [`GroupCommitStore`]: each invocation makes its signal pending, commits it at once when it is
//! alone in its generation, and otherwise waits for its claim while one combiner sequences
//! everything pending into commits of many.
//!
//! Promises (each with the test that tries to break it in `ingest_group_commit_tests.rs`):
//! - a signal is answered 201 only when its claim exists and its entry, rebuilt from its own
//!   content and the claim's placement, hashes to the claim's hash;
//! - a claim of its id that is not its own entry (a replay racing it, a twin request) is answered
//!   as a replay (200 identical / 409 conflicting), never as stored;
//! - every store call runs under the request's [`Budget`]; a busy store is retried with the
//!   request's [`RetryPolicy`] backoff, bounded by its attempts and deadline; out of either, the
//!   answer is "outcome unknown" (503 with `Retry-After`), and the signal is never stored twice;
//! - a combiner that dies (its future dropped) loses nothing: every waiter keeps its pending alive
//!   and takes over, staggered, when the head stops moving.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use super::{Budget, EventBuilder, IngestSettings, OutOfTime, Unconfirmed, error_chain};
use crate::domain::audit::{AuditEvent, AuditEventType};
use crate::domain::entry::{Entry, Placement, StoredEntry};
use crate::domain::signal::SignalId;
use crate::ports::{Clock, CommitError, CommitHead, GroupCommitStore, Pending, Placed, StoreError};

/// The protocol's timings and sizes, in one place (ARCHITECTURE.md "What the prototype showed"
/// says where each figure comes from).
mod tuning {
    use std::time::Duration;

    /// A waiter first reads its own claim this long after entering (no commit can carry it
    /// sooner: a combiner's read of its partition, then a commit transaction), then again after a
    /// pause that grows with its wait: a quarter of the time waited so far, at least
    /// [`POLL_MIN`] and at most [`POLL_MAX`]. Its claim is its own partition, so a thousand
    /// waiters never poll a shared (and then throttled) item; the growth bounds the calls of a
    /// long wait (a waiter of 5 s reads its claim ~30 times, not 330), which a store that
    /// serves one request at a time (the emulator) needs.
    pub const FIRST_POLL: Duration = Duration::from_millis(20);
    pub const POLL_MIN: Duration = Duration::from_millis(15);
    pub const POLL_MAX: Duration = Duration::from_millis(250);
    pub const POLL_SHARE: u32 = 4;
    /// The smallest id of a generation first reads the head this long after entering, and
    /// combines if no commit happened since: long enough for the burst's other pendings to land.
    pub const HANDOFF: Duration = Duration::from_millis(20);
    /// The smallest id combines after [`HANDOFF`] only when the head's newest signal arrived
    /// longer than this before its own (an idle ledger, or the start of a burst); otherwise a
    /// combiner is likely at work (its commits take 15–100 ms), and the smallest id first reads
    /// the head [`BUSY_HANDOFF`] after entering: combining at 20 ms raced the live combiner's
    /// commit in flight, one of them lost, and the loser's backlog waited (the benchmark's
    /// sustained run had 290 lost commits in 20 s, then 11).
    pub const IDLE_GAP: Duration = Duration::from_millis(500);
    pub const BUSY_HANDOFF: Duration = Duration::from_millis(70);
    /// After its first head read (`HANDOFF` or `BUSY_HANDOFF` for the smallest id,
    /// [`PASSED_GRACE`] for the others: nothing they would do sooner, and the head's partition
    /// serves every signal's entering read, with read capacity for about one more per signal),
    /// a waiter reads the head this often: rarely enough that a burst's waiters do not
    /// throttle the commit partition; after a long wait, every half of the time waited so far,
    /// at most [`CHECK_MAX`].
    pub const CHECK_EVERY: Duration = Duration::from_millis(100);
    pub const CHECK_MAX: Duration = Duration::from_secs(1);
    /// A waiter whose key the head passed re-enters only this long after entering: until then a
    /// combiner still reads its generation's partition (the last [`RECENT_GENERATIONS`]
    /// commits', about three commit cycles), and re-entering sooner re-puts pendings a
    /// combiner is about to sequence (the benchmark measured 100, 150 and 250 ms: 150 has the
    /// lowest sustained tail).
    pub const PASSED_GRACE: Duration = Duration::from_millis(150);
    /// A waiter that is not the smallest takes over a stalled head after this long plus a random
    /// part of [`TAKE_OVER_JITTER_MS`], so that a stalled generation's waiters do not all read
    /// and commit at the same moment (the prototype's herd throttled hot partitions).
    pub const TAKE_OVER_AFTER: Duration = Duration::from_millis(250);
    pub const TAKE_OVER_JITTER_MS: u64 = 250;
    /// A combiner goes on sequencing others this long after its own signal was stored, then
    /// commits what it has read and hands over (the next generation's smallest id combines):
    /// it bounds the combiner's own answer time under sustained load. Each hand-over delays the
    /// signals that land during it by a take-over (~100 ms), so hand-overs must be rare: with
    /// 2 s the sustained p99 was 312 ms (20 s run), with 5 s 248 ms, with 10 s 234 ms (one producer in
    /// ~15,000 then waits 10 s for its own answer, within the 20 s deadline).
    pub const LINGER: Duration = Duration::from_secs(10);
    /// A combiner reads the pending partitions of its last this-many commits' generations (a
    /// pending lands up to a commit or two after the head its owner read); one that takes over
    /// starts with the generations of the last this-many commits on the ledger, so that what its
    /// predecessor would still have read is read.
    pub const RECENT_GENERATIONS: usize = 3;
    /// The most pendings one commit is built from; the store may take a shorter prefix (97 is
    /// the DynamoDB layout's bound: 100 transaction actions, 3 of them not claims).
    pub const COMMIT_BATCH: usize = 97;
    /// Keys read after the pending put to tell a lone signal from a crowd: two are enough.
    pub const FIRST_IDS: u32 = 2;
}

use tuning::*;

/// What the ingest service hands the protocol for one signal.
pub(super) struct GroupRequest<'a> {
    pub clock: &'a dyn Clock,
    pub settings: &'a IngestSettings,
    pub budget: &'a Budget,
    pub mine: Pending,
}

/// How the protocol ended for one signal.
pub(super) enum GroupAnswer {
    /// The signal is stored: its entry, rebuilt from its own content and re-hashed.
    Stored {
        entry: Box<StoredEntry>,
        retries: u32,
    },
    /// Its id was claimed before it entered (read beside its first head read): a replay of what
    /// holds the claim; no pending was written.
    Replay(Box<StoredEntry>),
    /// Its id is claimed by something else than its own pending (another content, submitter or
    /// request under the same id): answer as a replay of what holds the claim.
    ClaimedByAnother,
    /// No confirmed outcome (busy, out of time, a failed store, a failed insert audit write).
    Unconfirmed {
        why: Unconfirmed,
        audit_write_failed: bool,
    },
}

/// The protocol for one store type, as a plain function pointer: [`super::Ingest`] holds one
/// only when its store has the group-commit primitives ([`super::Ingest::with_group_commit`]).
pub(super) type GroupAppendFn<S> =
    for<'a> fn(&'a S, GroupRequest<'a>) -> Pin<Box<dyn Future<Output = GroupAnswer> + Send + 'a>>;

/// Runs the protocol for `request.mine` over `store`.
pub(super) fn append<'a, S: GroupCommitStore>(
    store: &'a S,
    request: GroupRequest<'a>,
) -> Pin<Box<dyn Future<Output = GroupAnswer> + Send + 'a>> {
    Box::pin(async move {
        let GroupRequest {
            clock,
            settings,
            budget,
            mine,
        } = request;
        let mut sequencer = Sequencer {
            store,
            clock,
            settings,
            budget,
            retries: 0,
            last_failure: String::new(),
            phases: Phases::new(),
        };
        sequencer.append(mine).await
    })
}

/// One store call's result, sorted by what the protocol does about it.
enum Call<T> {
    Done(T),
    /// Busy, throttled or late: its outcome is unknown, another try may do.
    Retry(String),
    /// Failed in a way retrying will not fix soon.
    Fail(String),
}

fn sorted<T>(result: Result<Result<T, StoreError>, OutOfTime>) -> Call<T> {
    match result {
        Ok(Ok(value)) => Call::Done(value),
        Ok(Err(error @ StoreError::Busy(_))) => Call::Retry(error_chain(&error)),
        Ok(Err(error)) => Call::Fail(error_chain(&error)),
        Err(late) => Call::Retry(late.to_string()),
    }
}

/// How one commit attempt ended.
enum Committed {
    /// The first entries of the batch are stored.
    Stored(Vec<StoredEntry>),
    /// These ids are claimed already: nothing written.
    Claimed(Vec<SignalId>),
    /// A commit at this index exists: nothing written.
    Lost,
    /// Busy or late: maybe written, maybe not.
    Unknown(String),
    AuditWriteFailed(String),
    Failed(String),
}

/// How a combiner stopped.
enum Combined {
    /// Its own signal is stored, by one of its commits.
    Mine(Box<StoredEntry>),
    /// It stopped without storing its own signal (a lost race, a busy store, nothing left it
    /// could see): its owner goes back to waiting.
    Stopped,
    AuditWriteFailed(String),
    Failed(String),
}

struct Sequencer<'a, S> {
    store: &'a S,
    clock: &'a dyn Clock,
    settings: &'a IngestSettings,
    budget: &'a Budget,
    retries: u32,
    last_failure: String,
    phases: Phases,
}

/// Where one signal's time went, logged at debug level under the target [`PHASES_TARGET`] when
/// it is answered (the benchmark reads these to break the ack latency down; a deployed function
/// logs at info and skips them).
struct Phases {
    started: Instant,
    /// When my last pending put was answered.
    entered: Option<Instant>,
    /// How many times I entered a generation (1 + re-entries).
    rounds: u32,
    /// Claim reads while waiting.
    polls: u32,
    /// Head reads while waiting.
    checks: u32,
    /// Re-entries because the head passed my key, and because it stopped moving.
    passed: u32,
    stalled: u32,
    /// How I was answered: `alone` (my own commit of one), `combiner` (a commit of my combining),
    /// `waiter` (my claim, written by another's commit).
    role: &'static str,
}

/// The `tracing` target of the per-signal phase events and of the combiner's per-commit events.
pub const PHASES_TARGET: &str = "group_commit_phases";

impl Phases {
    fn new() -> Phases {
        Phases {
            started: Instant::now(),
            entered: None,
            rounds: 0,
            polls: 0,
            checks: 0,
            passed: 0,
            stalled: 0,
            role: "waiter",
        }
    }

    fn log(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let now = Instant::now();
        let entered = self.entered.unwrap_or(now);
        tracing::debug!(
            target: PHASES_TARGET,
            kind = "signal",
            role = self.role,
            total_ms = ms(now - self.started),
            enter_ms = ms(entered - self.started),
            wait_ms = ms(now - entered),
            rounds = self.rounds,
            polls = self.polls,
            checks = self.checks,
            passed = self.passed,
            stalled = self.stalled,
        );
    }
}

impl<S: GroupCommitStore> Sequencer<'_, S> {
    /// Steps 1–6 of the design, re-entered when the head passed my pending by.
    async fn append(&mut self, mine: Pending) -> GroupAnswer {
        let my_key = mine.sequence_key();
        let mut first_round = true;
        'rounds: loop {
            // 1. The head names the generation I join. On the first round my claim is read
            // beside it: a replay answers before entering, and costs no round trip of its own.
            let head = if std::mem::take(&mut first_round) {
                let (head, claim) = tokio::join!(
                    self.budget.call(self.store.commit_head()),
                    self.budget
                        .call(self.store.find_by_signal_id(&mine.signal_id))
                );
                match claim {
                    Ok(Ok(Some(existing))) => return GroupAnswer::Replay(Box::new(existing)),
                    Ok(Ok(None)) => {}
                    Ok(Err(error)) => {
                        return GroupAnswer::Unconfirmed {
                            why: error.into(),
                            audit_write_failed: false,
                        };
                    }
                    Err(late) => {
                        return GroupAnswer::Unconfirmed {
                            why: Unconfirmed::Busy {
                                retries: 0,
                                why: late.to_string(),
                            },
                            audit_write_failed: false,
                        };
                    }
                }
                head
            } else {
                self.budget.call(self.store.commit_head()).await
            };
            let head = match sorted(head) {
                Call::Done(head) => head,
                Call::Retry(why) => match self.backoff(why).await {
                    true => continue 'rounds,
                    false => return self.busy(),
                },
                Call::Fail(why) => return failed(why),
            };
            let generation = head.next;
            // 2. My pending, durable and idempotent.
            match sorted(
                self.budget
                    .call(self.store.put_pending(generation, &mine))
                    .await,
            ) {
                Call::Done(()) => {}
                Call::Retry(why) => match self.backoff(why).await {
                    true => continue 'rounds,
                    false => return self.busy(),
                },
                Call::Fail(why) => return failed(why),
            }
            let entered = Instant::now();
            self.phases.entered = Some(entered);
            self.phases.rounds += 1;
            // 3. Alone in my generation: commit at once.
            let first = match sorted(
                self.budget
                    .call(self.store.first_pending_ids(generation, FIRST_IDS))
                    .await,
            ) {
                Call::Done(first) => first,
                Call::Retry(_) => Vec::new(),
                Call::Fail(why) => return failed(why),
            };
            let alone = first.as_slice() == std::slice::from_ref(&mine.signal_id);
            // "Smallest" in the store's pending order (DynamoDB: a hash of the id), which every
            // waiter of the generation reads alike; not the byte order of the ids.
            let smallest = first.first().is_none_or(|id| *id == mine.signal_id);
            // A combiner is likely at work when the head's newest signal arrived shortly before
            // mine: then even the smallest id waits a whole commit before combining (its commit
            // would race the combiner's, and one of them would be lost).
            let busy_ledger = time::Duration::try_from(IDLE_GAP)
                .ok()
                .and_then(|gap| mine.received_at.checked_sub(gap))
                .is_some_and(|since| head.last_key.as_str() > since.as_str());
            if alone {
                match self.commit(&head, std::slice::from_ref(&mine)).await {
                    Committed::Stored(stored) => {
                        if let Some(entry) = stored.into_iter().next() {
                            self.phases.role = "alone";
                            return self.stored(entry);
                        }
                    }
                    // The head moved under me: re-enter on the new head, as a lost race today.
                    Committed::Lost => match self.backoff("lost the commit race".into()).await {
                        true => continue 'rounds,
                        false => return self.busy(),
                    },
                    // My id is claimed (a replay, or an earlier round of mine sequenced by a
                    // combiner), or the commit's outcome is unknown: my claim tells.
                    Committed::Claimed(_) => {}
                    Committed::Unknown(why) => self.last_failure = why,
                    Committed::AuditWriteFailed(why) => return audit_write_failed(why),
                    Committed::Failed(why) => return failed(why),
                }
            }
            // 4. Wait for my claim, reading it and the head now and then, less often as the
            // wait grows. Right away when my commit of one found my id claimed or did not say.
            // The head is read first `HANDOFF` after entering by the smallest id (to combine if
            // nobody did), `TAKE_OVER_AFTER` by the others (nothing they would do sooner): the
            // head's partition serves every signal's entering read, and has read capacity for
            // about one more per signal.
            let mut poll_at = match alone {
                true => Instant::now(),
                false => entered + FIRST_POLL,
            };
            let mut check_at = entered
                + match (smallest, busy_ledger) {
                    (true, false) => HANDOFF,
                    (true, true) => BUSY_HANDOFF,
                    (false, _) => PASSED_GRACE,
                };
            let take_over_after =
                TAKE_OVER_AFTER + Duration::from_millis(fastrand::u64(0..=TAKE_OVER_JITTER_MS));
            let (mut seen_next, mut seen_moving_at) = (generation, entered);
            loop {
                let next = poll_at.min(check_at);
                if !self
                    .budget
                    .pause(next.saturating_duration_since(Instant::now()))
                    .await
                {
                    return self.busy();
                }
                if Instant::now() >= poll_at {
                    self.phases.polls += 1;
                    match self.answer_if_placed(&mine).await {
                        Call::Done(Some(answer)) => return answer,
                        Call::Done(None) => {}
                        Call::Retry(why) => self.last_failure = why,
                        Call::Fail(why) => return failed(why),
                    }
                    poll_at = Instant::now() + poll_pause(entered.elapsed());
                }
                if Instant::now() < check_at {
                    continue;
                }
                check_at = Instant::now() + check_pause(entered.elapsed());
                self.phases.checks += 1;
                let now = match sorted(self.budget.call(self.store.commit_head()).await) {
                    Call::Done(now) => now,
                    Call::Retry(why) => {
                        // Busy or throttled: tried again a check period later, not sooner (the
                        // head's partition is shared by every waiter).
                        self.last_failure = why;
                        continue;
                    }
                    Call::Fail(why) => return failed(why),
                };
                if now.next != seen_next {
                    (seen_next, seen_moving_at) = (now.next, Instant::now());
                }
                if now.next == generation && (smallest || entered.elapsed() >= take_over_after) {
                    // Nobody committed since I entered: nobody combines, so I do.
                    match self.combine(generation, now, &mine.signal_id).await {
                        Combined::Mine(entry) => {
                            self.phases.role = "combiner";
                            return self.stored(*entry);
                        }
                        // Out of attempts (the store stayed busy): give up, unconfirmed.
                        Combined::Stopped if self.exhausted() => return self.busy(),
                        Combined::Stopped => {}
                        Combined::AuditWriteFailed(why) => return audit_write_failed(why),
                        Combined::Failed(why) => return failed(why),
                    }
                    // Whatever happened, my claim says whether I am stored.
                    poll_at = Instant::now();
                    continue;
                }
                let passed = now.last_key > my_key
                    && now.next > generation
                    && entered.elapsed() >= PASSED_GRACE;
                let stalled = now.next != generation && seen_moving_at.elapsed() >= take_over_after;
                if passed || stalled {
                    // The head passed my key without claiming me and has been past my
                    // generation too long for a combiner to read it still (my pending landed
                    // after every read of its partition), or it stopped moving after passing my
                    // generation: nobody will sequence me; re-enter.
                    match passed {
                        true => self.phases.passed += 1,
                        false => self.phases.stalled += 1,
                    }
                    match self.count_retry("passed by".into()) {
                        true => continue 'rounds,
                        false => return self.busy(),
                    }
                }
                // Otherwise a combiner is at work: keep waiting.
            }
        }
    }

    /// Step 5, the combiner: sequences the pendings of `generation`, of the head's generations and
    /// of the next ones, commit after commit on the head it wrote itself, reading new arrivals
    /// while each commit is in flight. Stops when a read leaves its backlog empty, `LINGER`
    /// after its own signal is stored, when it loses a commit race, or when the store stays
    /// busy.
    async fn combine(
        &mut self,
        generation: u64,
        mut head: CommitHead,
        my_id: &SignalId,
    ) -> Combined {
        let mut sequenced: HashSet<SignalId> = HashSet::new();
        let mut backlog: Vec<Pending> = Vec::new();
        let mut mine: Option<(StoredEntry, Instant)> = None;
        let (mut commits, mut signals) = (0u32, 0usize);
        // My generation and the head's, and the generations my predecessor still read (the
        // last commits'): what it left pending there is mine to sequence. Their pendings it did
        // sequence are told by their claims (read once, here), so that my commits do not fail
        // on them one after another.
        let starting = [generation, head.next];
        let (found, predecessor) = tokio::join!(self.read_partitions(&starting), async {
            let Some(first) = head.first else {
                return Call::Done((Vec::new(), Vec::new(), Vec::new()));
            };
            let limit = RECENT_GENERATIONS as u32;
            let firsts = match sorted(
                self.budget
                    .call(self.store.commit_firsts(first, limit))
                    .await,
            ) {
                Call::Done(firsts) => firsts,
                Call::Retry(why) => return Call::Retry(why),
                Call::Fail(why) => return Call::Fail(why),
            };
            let unseen: Vec<u64> = firsts
                .iter()
                .copied()
                .filter(|g| !starting.contains(g))
                .collect();
            let left = match self.read_partitions(&unseen).await {
                Call::Done(left) => left,
                Call::Retry(why) => return Call::Retry(why),
                Call::Fail(why) => return Call::Fail(why),
            };
            let ids: Vec<SignalId> = left.iter().map(|p| p.signal_id.clone()).collect();
            let claimed: HashSet<SignalId> = match ids.is_empty() {
                true => HashSet::new(),
                false => match sorted(self.budget.call(self.store.claims(&ids)).await) {
                    Call::Done(claimed) => claimed.into_iter().map(|(id, _)| id).collect(),
                    Call::Retry(why) => return Call::Retry(why),
                    Call::Fail(why) => return Call::Fail(why),
                },
            };
            let (claimed, left): (Vec<Pending>, Vec<Pending>) = left
                .into_iter()
                .partition(|p| claimed.contains(&p.signal_id));
            let claimed: Vec<SignalId> = claimed.into_iter().map(|p| p.signal_id).collect();
            Call::Done((firsts, left, claimed))
        });
        let mut recent: VecDeque<u64> = head.first.into_iter().collect();
        match predecessor {
            Call::Done((firsts, left, claimed)) => {
                if !firsts.is_empty() {
                    recent = firsts.into_iter().rev().collect();
                }
                sequenced.extend(claimed);
                admit(left, &mut backlog, &sequenced);
            }
            // Without them I still sequence my own generation; theirs re-enter in time.
            Call::Retry(why) => self.last_failure = why,
            Call::Fail(why) => return Combined::Failed(why),
        }
        match found {
            Call::Done(found) => admit(found, &mut backlog, &sequenced),
            Call::Retry(why) => {
                self.last_failure = why;
                return Combined::Stopped;
            }
            Call::Fail(why) => return Combined::Failed(why),
        }
        let stop = |mine: Option<(StoredEntry, Instant)>, commits: u32, signals: usize| {
            // One line per combiner (≈ 24/s at 1,500 signals/s): how much one invocation
            // sequenced, for the logs' view of batching.
            tracing::info!(
                generation,
                commits,
                signals,
                own_stored = mine.is_some(),
                "combiner stopped"
            );
            mine.map_or(Combined::Stopped, |(entry, _)| {
                Combined::Mine(Box::new(entry))
            })
        };
        loop {
            let lingered = mine.as_ref().is_some_and(|(_, at)| at.elapsed() >= LINGER);
            if backlog.is_empty() || self.budget.left() < CHECK_EVERY {
                return stop(mine, commits, signals);
            }
            let batch: Vec<Pending> = backlog.iter().take(COMMIT_BATCH).cloned().collect();
            let after = head.next.saturating_add(batch.len() as u64);
            let mut partitions = vec![generation, head.next, after];
            partitions.extend(recent.iter().copied());
            // Past its linger, a combiner reads nothing new: it commits what it has, then stops.
            let read_now = !lingered && backlog.len() < 2 * COMMIT_BATCH;
            let cycle = Instant::now();
            let (committed, arrivals) = tokio::join!(
                async {
                    let committed = self.commit(&head, &batch).await;
                    (committed, cycle.elapsed())
                },
                async {
                    let arrivals = match read_now {
                        true => self.read_partitions(&partitions).await,
                        false => Call::Done(Vec::new()),
                    };
                    (arrivals, cycle.elapsed())
                }
            );
            let ((committed, commit_took), (arrivals, read_took)) = (committed, arrivals);
            tracing::debug!(
                target: PHASES_TARGET,
                kind = "commit",
                role = match &committed {
                    Committed::Stored(_) => "stored",
                    Committed::Claimed(_) => "claimed",
                    Committed::Lost => "lost",
                    _ => "other",
                },
                batch = batch.len(),
                backlog = backlog.len(),
                commit_ms = commit_took.as_secs_f64() * 1000.0,
                read_ms = read_took.as_secs_f64() * 1000.0,
                partitions = partitions.len(),
            );
            match committed {
                Committed::Stored(stored) => {
                    let Some(last) = stored.last() else {
                        return stop(mine, commits, signals);
                    };
                    commits += 1;
                    signals += stored.len();
                    recent.push_back(head.next);
                    if recent.len() > RECENT_GENERATIONS {
                        recent.pop_front();
                    }
                    head = CommitHead {
                        first: Some(head.next),
                        next: head.next.saturating_add(stored.len() as u64),
                        last_hash: last.entry_hash,
                        last_key: stored
                            .iter()
                            .map(|e| {
                                crate::ports::sequence_key(&e.entry.received_at, &e.entry.signal_id)
                            })
                            .max()
                            .unwrap_or_default(),
                    };
                    for entry in stored {
                        let id = entry.entry.signal_id.clone();
                        if mine.is_none() && id == *my_id {
                            mine = Some((entry, Instant::now()));
                        }
                        sequenced.insert(id);
                    }
                    backlog.retain(|p| !sequenced.contains(&p.signal_id));
                }
                Committed::Claimed(claimed) => {
                    // Replays, or sequenced by another combiner: drop them and commit the rest.
                    sequenced.extend(claimed);
                    backlog.retain(|p| !sequenced.contains(&p.signal_id));
                }
                Committed::Lost => return stop(mine, commits, signals),
                Committed::Unknown(why) => {
                    // Maybe written: the next commit on this head then loses, and stops.
                    if !self.backoff(why).await {
                        return stop(mine, commits, signals);
                    }
                }
                Committed::AuditWriteFailed(why) => {
                    return match mine {
                        Some((entry, _)) => Combined::Mine(Box::new(entry)),
                        None => Combined::AuditWriteFailed(why),
                    };
                }
                Committed::Failed(why) => return Combined::Failed(why),
            }
            match arrivals {
                Call::Done(found) => admit(found, &mut backlog, &sequenced),
                Call::Retry(why) => self.last_failure = why,
                Call::Fail(why) => return Combined::Failed(why),
            }
        }
    }

    /// Builds the entries of `batch` on `head` (chained, in order) and commits the longest
    /// prefix the store takes, with the insert audit event of each.
    async fn commit(&self, head: &CommitHead, batch: &[Pending]) -> Committed {
        let now = self.clock.now();
        let mut entries: Vec<StoredEntry> = Vec::with_capacity(batch.len());
        let mut audits: Vec<AuditEvent> = Vec::with_capacity(batch.len());
        let mut previous_hash = head.last_hash;
        for pending in batch {
            let placement = Placement {
                chain_index: head.next.saturating_add(entries.len() as u64),
                previous_hash,
                received_at: pending.received_at,
                retention_days: self.settings.retention_days,
                submitter: pending.submitter.clone(),
            };
            let Ok(entry) = Entry::assemble(
                pending.signal_id.clone(),
                pending.content.clone(),
                placement,
            ) else {
                // Only possible with a retention period reaching past the year 9999.
                tracing::error!(signal_id = %pending.signal_id, "cannot compute the retention date");
                continue;
            };
            let stored = StoredEntry::seal(entry);
            previous_hash = stored.entry_hash;
            audits.push(inserted_event(pending, &stored, now));
            entries.push(stored);
        }
        if entries.is_empty() {
            return Committed::Failed("no entry of the batch can be built".into());
        }
        match self
            .budget
            .call(self.store.commit(head, &entries, &audits))
            .await
        {
            Ok(Ok(count)) if count > 0 => {
                entries.truncate(count);
                Committed::Stored(entries)
            }
            Ok(Ok(_)) => Committed::Failed("the store committed no entry".into()),
            Ok(Err(CommitError::Lost(_))) => Committed::Lost,
            Ok(Err(CommitError::Claimed(ids))) => Committed::Claimed(ids),
            Ok(Err(CommitError::AuditWriteFailed(source))) => {
                Committed::AuditWriteFailed(error_chain(source.as_ref()))
            }
            Ok(Err(CommitError::Store(error @ StoreError::Busy(_)))) => {
                Committed::Unknown(error_chain(&error))
            }
            Ok(Err(CommitError::Store(error))) => Committed::Failed(error_chain(&error)),
            Err(late) => Committed::Unknown(late.to_string()),
        }
    }

    /// Step 6: my claim, if it exists, answered: my entry rebuilt from my own content at the claim's
    /// placement hashes to the claim's hash (201), or the claim is someone else's (a replay).
    async fn answer_if_placed(&self, mine: &Pending) -> Call<Option<GroupAnswer>> {
        match sorted(self.budget.call(self.store.placed(&mine.signal_id)).await) {
            Call::Done(Some(placed)) => Call::Done(Some(self.rebuilt(mine, &placed))),
            Call::Done(None) => Call::Done(None),
            Call::Retry(why) => Call::Retry(why),
            Call::Fail(why) => Call::Fail(why),
        }
    }

    fn rebuilt(&self, mine: &Pending, placed: &Placed) -> GroupAnswer {
        let placement = Placement {
            chain_index: placed.chain_index,
            previous_hash: placed.previous_hash,
            received_at: mine.received_at,
            retention_days: self.settings.retention_days,
            submitter: mine.submitter.clone(),
        };
        match Entry::assemble(mine.signal_id.clone(), mine.content.clone(), placement) {
            Ok(entry) => {
                let entry = StoredEntry::seal(entry);
                match entry.entry_hash == placed.entry_hash {
                    true => self.stored(entry),
                    false => GroupAnswer::ClaimedByAnother,
                }
            }
            Err(_) => GroupAnswer::ClaimedByAnother,
        }
    }

    async fn read_partitions(&self, partitions: &[u64]) -> Call<Vec<Pending>> {
        let mut partitions = partitions.to_vec();
        partitions.sort_unstable();
        partitions.dedup();
        // A handful of small partitions, read together while a commit is in flight: the read
        // then takes about one round trip, and does not lengthen the commit cycle.
        let reads = partitions.into_iter().map(|generation| async move {
            sorted(self.budget.call(self.store.pendings(generation)).await)
        });
        let mut found = Vec::new();
        for read in futures_util::future::join_all(reads).await {
            match read {
                Call::Done(pendings) => found.extend(pendings),
                Call::Retry(why) => return Call::Retry(why),
                Call::Fail(why) => return Call::Fail(why),
            }
        }
        Call::Done(found)
    }

    fn stored(&self, entry: StoredEntry) -> GroupAnswer {
        self.phases.log();
        GroupAnswer::Stored {
            entry: Box::new(entry),
            retries: self.retries,
        }
    }

    fn exhausted(&self) -> bool {
        self.retries >= self.settings.retry.max_attempts
    }

    /// Counts one retry; false when the policy's attempts are spent.
    fn count_retry(&mut self, why: String) -> bool {
        self.last_failure = why;
        self.retries += 1;
        !self.exhausted()
    }

    /// Counts one retry and sleeps the policy's backoff; false when attempts or time are spent.
    async fn backoff(&mut self, why: String) -> bool {
        self.count_retry(why)
            && self
                .budget
                .pause(self.settings.retry.backoff(self.retries))
                .await
    }

    fn busy(&self) -> GroupAnswer {
        GroupAnswer::Unconfirmed {
            why: Unconfirmed::Busy {
                retries: self.retries,
                why: match self.last_failure.is_empty() {
                    true => "the deadline passed before the signal was sequenced".into(),
                    false => self.last_failure.clone(),
                },
            },
            audit_write_failed: false,
        }
    }
}

/// The pause before a waiter's next claim read, `waited` after it entered.
pub(super) fn poll_pause(waited: Duration) -> Duration {
    (waited / POLL_SHARE).clamp(POLL_MIN, POLL_MAX)
}

/// The pause before a waiter's next head read, `waited` after it entered.
pub(super) fn check_pause(waited: Duration) -> Duration {
    (waited / 2).clamp(CHECK_EVERY, CHECK_MAX)
}

fn failed(why: String) -> GroupAnswer {
    GroupAnswer::Unconfirmed {
        why: Unconfirmed::Failed(why),
        audit_write_failed: false,
    }
}

fn audit_write_failed(why: String) -> GroupAnswer {
    tracing::error!(error = %why, "the audit record of a commit could not be written; the commit was not stored");
    GroupAnswer::Unconfirmed {
        why: Unconfirmed::Failed(why),
        audit_write_failed: true,
    }
}

/// Adds the pendings not seen before to the backlog, in sequencing order. Claims are not read
/// first: a claimed one fails the commit's condition on its claim, and the store names it.
fn admit(found: Vec<Pending>, backlog: &mut Vec<Pending>, sequenced: &HashSet<SignalId>) {
    let mut seen: HashSet<SignalId> = backlog.iter().map(|p| p.signal_id.clone()).collect();
    backlog.extend(
        found
            .into_iter()
            .filter(|p| !sequenced.contains(&p.signal_id) && seen.insert(p.signal_id.clone())),
    );
    backlog.sort_by_cached_key(Pending::sequence_key);
}

/// The `SIGNAL_INSERTED` event of `stored`, built from its pending exactly as the single-append
/// protocol builds it from the request: the pending's submitter, request id and event id.
pub(super) fn inserted_event(
    pending: &Pending,
    stored: &StoredEntry,
    now: crate::domain::timestamp::Timestamp,
) -> AuditEvent {
    EventBuilder {
        event: AuditEvent {
            event_id: pending.event_id.clone(),
            occurred_at: now,
            event_type: AuditEventType::SignalInserted,
            actor: pending.submitter.clone(),
            request_id: pending.request_id.clone(),
            signal_id: None,
            chain_index: None,
            reason: None,
            excerpt: None,
            details: json!({"method": "POST", "path": "/signals"}),
        },
    }
    .inserted(stored)
}
