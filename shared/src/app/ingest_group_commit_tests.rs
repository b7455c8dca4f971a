//! The group-commit protocol through the ingest service, over the in-memory store: bursts,
//! replays and twins racing a burst, a combiner that dies, a lost commit race, a busy store,
//! failed audit writes, and random interleavings. Time is tokio's, paused: the protocol's waits
//! run in virtual time and no test sleeps to synchronise.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::ports::{CommitError, CommitHead, Placed};

/// Interleaves concurrent requests: every group-commit call first yields to the scheduler a
/// random number of times (0–`max_yields`, seeded), so that many invocations read, put and
/// commit between each other's calls, as they do against a remote store. Optionally, a share
/// of commits (per mille, seeded) is throttled, or applied with its answer lost (`Busy`).
#[derive(Debug)]
struct Interleaved<S> {
    inner: S,
    rng: Mutex<fastrand::Rng>,
    max_yields: u32,
    throttled_per_mille: u32,
    lost_per_mille: u32,
}

impl<S> Interleaved<S> {
    fn new(inner: S, seed: u64, max_yields: u32) -> Interleaved<S> {
        Interleaved {
            inner,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            max_yields,
            throttled_per_mille: 0,
            lost_per_mille: 0,
        }
    }

    fn with_faults(mut self, throttled_per_mille: u32, lost_per_mille: u32) -> Self {
        self.throttled_per_mille = throttled_per_mille;
        self.lost_per_mille = lost_per_mille;
        self
    }

    fn draw(&self, per_mille: u32) -> bool {
        self.rng.lock().unwrap().u32(0..1000) < per_mille
    }

    fn inner(&self) -> &S {
        &self.inner
    }

    async fn turn(&self) {
        let yields = {
            let mut rng = self.rng.lock().unwrap();
            rng.u32(0..=self.max_yields)
        };
        for _ in 0..yields.max(1) {
            tokio::task::yield_now().await;
        }
    }
}

impl<S: LedgerStore> LedgerStore for Interleaved<S> {
    delegate_reads!();
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        self.turn().await;
        self.inner.append(entry, audit).await
    }
}

impl<S: GroupCommitStore> GroupCommitStore for Interleaved<S> {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        self.turn().await;
        self.inner.commit_head().await
    }
    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.turn().await;
        self.inner.put_pending(generation, pending).await
    }
    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        self.turn().await;
        self.inner.first_pending_ids(generation, limit).await
    }
    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        self.turn().await;
        self.inner.pendings(generation).await
    }
    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        self.turn().await;
        self.inner.commit_firsts(at_or_before, limit).await
    }
    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        self.turn().await;
        if self.draw(self.throttled_per_mille) {
            return Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))).into());
        }
        let committed = self.inner.commit(head, entries, audits).await?;
        if self.draw(self.lost_per_mille) {
            return Err(StoreError::Busy(Box::new(Injected("answer lost after commit"))).into());
        }
        Ok(committed)
    }
    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        self.turn().await;
        self.inner.placed(signal_id).await
    }
}

tokio::task_local! {
    /// The request a spawned task serves (`run_as`), so a store wrapper can tell who commits.
    static REQUEST_NUMBER: usize;
}

/// Commits go through, or are throttled (`Busy`) when `throttled` says so from the commit's
/// number (0, 1, …); after each successful commit, `notify` wakes the test and `committer`
/// names the request (`REQUEST_NUMBER`) that wrote it, so a test can kill the combiner there.
struct CommitFaults<S> {
    inner: S,
    commits: AtomicU32,
    throttled: Box<dyn Fn(u32) -> bool + Send + Sync>,
    notify: tokio::sync::Notify,
    committer: Mutex<Option<usize>>,
}

impl<S> std::fmt::Debug for CommitFaults<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitFaults")
    }
}

impl<S> CommitFaults<S> {
    fn new(inner: S, throttled: impl Fn(u32) -> bool + Send + Sync + 'static) -> Self {
        CommitFaults {
            inner,
            commits: AtomicU32::new(0),
            throttled: Box::new(throttled),
            notify: tokio::sync::Notify::new(),
            committer: Mutex::new(None),
        }
    }
    fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: LedgerStore> LedgerStore for CommitFaults<S> {
    delegate_reads!();
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        self.inner.append(entry, audit).await
    }
}

impl<S: GroupCommitStore> GroupCommitStore for CommitFaults<S> {
    delegate_group_reads!();
    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.inner.put_pending(generation, pending).await
    }
    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        let number = self.commits.fetch_add(1, Ordering::SeqCst);
        if (self.throttled)(number) {
            return Err(StoreError::Busy(Box::new(Injected("ThrottlingException"))).into());
        }
        let committed = self.inner.commit(head, entries, audits).await;
        if committed.is_ok() {
            *self.committer.lock().unwrap() = REQUEST_NUMBER.try_with(|n| *n).ok();
            self.notify.notify_one();
        }
        committed
    }
}

fn signal_n(n: usize) -> Value {
    signal(&format!("c-{n:04}"))
}

/// Every entry once, in one intact chain, with exactly one `SIGNAL_INSERTED` event each, naming
/// its entry; answers `ids` (by chain index).
fn assert_one_sound_chain(ledger: &InMemoryLedger, expected: usize) -> Vec<String> {
    let entries = ledger.entries();
    assert_eq!(entries.len(), expected, "entries");
    let verdict = verify_chain(&entries, Some(expected as u64));
    assert!(verdict.is_intact(), "{verdict:?}");
    let mut ids: Vec<String> = entries
        .iter()
        .map(|e| e.entry.signal_id.to_string())
        .collect();
    let by_index = ids.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "a signal stored twice");
    let inserts: Vec<AuditEvent> = ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::SignalInserted)
        .collect();
    assert_eq!(inserts.len(), expected, "one insert event per entry");
    let mut events_by_id: HashMap<String, &AuditEvent> = HashMap::new();
    for event in &inserts {
        let id = event.signal_id.clone().unwrap();
        assert!(
            events_by_id.insert(id, event).is_none(),
            "two insert events"
        );
    }
    for stored in &entries {
        let event = events_by_id[stored.entry.signal_id.as_str()];
        assert_eq!(event.chain_index, Some(stored.entry.chain_index));
        assert_eq!(event.actor, stored.entry.submitter);
        assert_eq!(event.details["entry_hash"], json!(stored.entry_hash));
    }
    by_index
}

async fn burst<S: GroupCommitStore + 'static>(
    service: &Arc<Service<S>>,
    requests: Vec<HttpRequest>,
) -> Vec<HttpResponse> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| {
            let service = Arc::clone(service);
            tokio::spawn(async move { service.handle(request).await })
        })
        .collect();
    let mut responses = Vec::new();
    for task in tasks {
        responses.push(task.await.unwrap());
    }
    responses
}

#[tokio::test(start_paused = true)]
async fn a_lone_signal_commits_alone_in_one_commit() {
    let (service, ledger, metrics) = service();
    let response = service.handle(post(&signal("s-1"))).await;
    assert_eq!(response.status, 201);
    assert_eq!(ledger.commit_count(), 1);
    assert_eq!(
        ledger.all_pendings().len(),
        1,
        "one pending, in generation 0"
    );
    assert_eq!(ledger.all_pendings()[0].0, 0);
    // The answer is the stored entry, and the insert event is the pending's.
    let entry = &ledger.entries()[0];
    assert_eq!(response.body_json(), json!(entry));
    let event = &ledger.audit_events()[0];
    assert_eq!(event.event_id, ledger.all_pendings()[0].1.event_id);
    assert_eq!(
        (event.actor.as_str(), event.request_id.as_str()),
        ("arn:aws:iam::123456789012:user/alice", "req-1")
    );
    assert_eq!(metrics.total(metric::APPEND_RETRIES), 0.0);
    assert_one_sound_chain(&ledger, 1);
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_200_is_stored_once_each_in_fewer_commits() {
    let ledger = InMemoryLedger::new();
    let store = Interleaved::new(ledger.clone(), 7, 3);
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    let requests = (0..200).map(|n| post(&signal_n(n))).collect();
    let responses = burst(&service, requests).await;
    for response in &responses {
        assert_eq!(
            response.status,
            201,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
    }
    let ids = assert_one_sound_chain(&ledger, 200);
    // Each 201 carries its own entry, at its place.
    for response in &responses {
        let body = response.body_json();
        let index = body["chain_index"].as_u64().unwrap() as usize;
        assert_eq!(body["signal_id"], ids[index]);
        assert_eq!(body, json!(ledger.entries()[index]));
    }
    let commits = ledger.commit_count();
    assert!(commits < 20, "{commits} commits for 200 signals");
}

#[tokio::test(start_paused = true)]
async fn replays_and_twins_racing_a_burst_are_answered_as_replays() {
    let ledger = InMemoryLedger::new();
    let store = Interleaved::new(ledger.clone(), 11, 3);
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    // Stored before the burst: replayed during it.
    assert_eq!(service.handle(post(&signal("old-1"))).await.status, 201);
    assert_eq!(service.handle(post(&signal("old-2"))).await.status, 201);
    let mut requests: Vec<HttpRequest> = (0..60).map(|n| post(&signal_n(n))).collect();
    let same = post(&signal("old-1"));
    let mut changed = signal("old-2");
    changed["entry_price"] = json!("151");
    let conflicting = post(&changed);
    // Twins: one id, sent twice in the burst: by another submitter (same content), and with
    // another content (same submitter).
    let mut twin_by_bob = post(&signal("twin-1"));
    twin_by_bob.actor = "arn:aws:iam::123456789012:user/bob".into();
    let mut twin_changed = signal("twin-2");
    twin_changed["entry_price"] = json!("151");
    requests.splice(
        30..30,
        [
            same,
            conflicting,
            post(&signal("twin-1")),
            twin_by_bob,
            post(&signal("twin-2")),
            post(&twin_changed),
        ],
    );
    let responses = burst(&service, requests).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 62);
    assert_eq!(&statuses[30..32], &[200, 409]);
    let mut twin_1: Vec<u16> = statuses[32..34].to_vec();
    twin_1.sort();
    assert_eq!(
        twin_1,
        [200, 201],
        "same content under one id: stored once, replayed once"
    );
    let mut twin_2: Vec<u16> = statuses[34..36].to_vec();
    twin_2.sort();
    assert_eq!(
        twin_2,
        [201, 409],
        "another content under one id: stored once, refused once"
    );
    assert_one_sound_chain(&ledger, 64);
    // Each twin's 201 is the entry that is stored, and the 409 is audited.
    for (range, id) in [(32..34, "twin-1"), (34..36, "twin-2")] {
        let stored = ledger
            .entries()
            .into_iter()
            .find(|e| e.entry.signal_id.as_str() == id)
            .unwrap();
        let created = responses[range]
            .iter()
            .find(|r| r.status == 201)
            .unwrap()
            .body_json();
        assert_eq!(created, json!(stored));
    }
    let conflicts = ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::ConflictingReplay)
        .count();
    assert_eq!(conflicts, 2);
}

#[tokio::test(start_paused = true)]
async fn a_combiner_killed_after_its_first_commit_is_taken_over() {
    let ledger = InMemoryLedger::new();
    let store = CommitFaults::new(Interleaved::new(ledger.clone(), 3, 2), |_| false);
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let service = Arc::clone(&service);
            tokio::spawn(
                REQUEST_NUMBER.scope(n, async move { service.handle(post(&signal_n(n))).await }),
            )
        })
        .collect();
    // The first commit of the burst is a combiner's (97 signals): kill that combiner right
    // after, with most of the burst still pending and its waiters in generation 0.
    service.store.notify.notified().await;
    let first = ledger.entries().len();
    assert!(first > 1 && first < 200, "the first commit took {first}");
    let killed = service.store.committer.lock().unwrap().unwrap();
    tasks[killed].abort();
    for (n, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(response) => assert_eq!(response.status, 201, "c-{n:04}"),
            Err(error) => assert!(error.is_cancelled() && n == killed),
        }
    }
    // Every signal is stored; the killed combiner's too, when its first commit carried it.
    let stored = ledger.entries().len();
    let mine_first = ledger.entries()[..first]
        .iter()
        .any(|e| e.entry.signal_id.as_str() == format!("c-{killed:04}"));
    assert_eq!(stored, if mine_first { 200 } else { 199 });
    assert_one_sound_chain(&ledger, stored);
}

#[tokio::test(start_paused = true)]
async fn a_combiner_that_loses_the_commit_race_goes_back_to_waiting() {
    // A rival combiner commits at the head the first (and second) commit was built on.
    let ledger = InMemoryLedger::new();
    let store = Interleaved::new(RivalAppends::new(ledger.clone(), 2), 5, 3);
    let (service, metrics) = service_over(store, &ledger);
    let service = Arc::new(service);
    let requests = (0..30).map(|n| post(&signal_n(n))).collect();
    let responses = burst(&service, requests).await;
    assert!(responses.iter().all(|r| r.status == 201));
    let ids = assert_one_sound_chain(&ledger, 32);
    assert_eq!(&ids[..2], ["rival-0", "rival-1"]);
    assert!(metrics.total(metric::APPEND_RETRIES) >= 1.0);
}

#[tokio::test(start_paused = true)]
async fn throttled_commits_are_retried_and_nothing_is_lost_or_duplicated() {
    let ledger = InMemoryLedger::new();
    // Every other commit of the first ten is throttled.
    let store = CommitFaults::new(Interleaved::new(ledger.clone(), 9, 3), |n| {
        n < 10 && n % 2 == 0
    });
    let (service, metrics) = service_over(store, &ledger);
    let responses = burst(
        &Arc::new(service),
        (0..100).map(|n| post(&signal_n(n))).collect(),
    )
    .await;
    assert!(responses.iter().all(|r| r.status == 201));
    assert_one_sound_chain(&ledger, 100);
    assert!(metrics.total(metric::APPEND_RETRIES) >= 1.0);
}

#[tokio::test(start_paused = true)]
async fn a_store_that_stays_busy_ends_in_bounded_retries_then_503_and_a_retry_stores_once() {
    let ledger = InMemoryLedger::new();
    let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let gate = Arc::clone(&open);
    let store = CommitFaults::new(Interleaved::new(ledger.clone(), 1, 2), move |_| {
        !gate.load(Ordering::SeqCst)
    });
    let settings = IngestSettings {
        retry: RetryPolicy {
            max_attempts: 5,
            ..fast_retries()
        },
        ..IngestSettings::default()
    };
    let service = Arc::new(service_with(store, &ledger, settings));
    let started = tokio::time::Instant::now();
    let responses = burst(&service, (0..20).map(|n| post(&signal_n(n))).collect()).await;
    for response in &responses {
        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("1"));
        assert_eq!(
            response.body_json()["type"],
            "urn:signal-ledger:problem:outcome-unknown"
        );
    }
    assert!(
        started.elapsed() <= TimeLimits::default().deadline,
        "past the deadline: {:?}",
        started.elapsed()
    );
    assert!(ledger.entries().is_empty());
    let failed = ledger
        .audit_events()
        .into_iter()
        .filter(|e| e.event_type == AuditEventType::AppendFailed)
        .count();
    assert_eq!(failed, 20, "one APPEND_FAILED event per unconfirmed append");
    // The producers retry once the store recovers: each signal stored once.
    open.store(true, Ordering::SeqCst);
    let retried = burst(&service, (0..20).map(|n| post(&signal_n(n))).collect()).await;
    assert!(retried.iter().all(|r| r.status == 201));
    assert_one_sound_chain(&ledger, 20);
}

#[tokio::test(start_paused = true)]
async fn failed_audit_writes_store_nothing_during_a_burst() {
    let ledger = InMemoryLedger::new();
    ledger.fail_audit_writes(true);
    let store = Interleaved::new(ledger.clone(), 13, 3);
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    let responses = burst(&service, (0..40).map(|n| post(&signal_n(n))).collect()).await;
    for response in &responses {
        assert!([500, 503].contains(&response.status), "{}", response.status);
        assert!(
            response.body_json()["detail"]
                .as_str()
                .unwrap()
                .contains("is unknown")
        );
    }
    assert!(ledger.entries().is_empty());
    assert_eq!(ledger.commit_count(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lost_commit_answer_is_found_by_the_claim_and_stored_once() {
    let ledger = InMemoryLedger::new();
    let store = LostAnswers {
        inner: Interleaved::new(ledger.clone(), 17, 3),
        lost: 3.into(),
    };
    let (service, _) = service_over(store, &ledger);
    let responses = burst(
        &Arc::new(service),
        (0..50).map(|n| post(&signal_n(n))).collect(),
    )
    .await;
    assert!(responses.iter().all(|r| r.status == 201));
    assert_one_sound_chain(&ledger, 50);
}

#[tokio::test(start_paused = true)]
async fn the_single_protocol_stays_selectable_beside_group_commit() {
    let ledger = InMemoryLedger::new();
    let settings = IngestSettings {
        protocol: AppendProtocol::Single,
        ..IngestSettings::default()
    };
    let service = Arc::new(service_with(
        Interleaved::new(ledger.clone(), 19, 3),
        &ledger,
        settings,
    ));
    let responses = burst(&service, (0..20).map(|n| post(&signal_n(n))).collect()).await;
    assert!(responses.iter().all(|r| r.status == 201));
    assert_one_sound_chain(&ledger, 20);
    assert!(
        ledger.all_pendings().is_empty(),
        "the single append makes no pending"
    );
    assert_eq!(ledger.commit_count(), 20, "one commit per signal");
}

/// Every store call answers `ROUND_TRIP` of paused time after it is made, so a request's
/// duration counts its sequential round trips (calls made together count once).
#[derive(Debug)]
struct RoundTrips<S> {
    inner: S,
}

const ROUND_TRIP: Duration = Duration::from_millis(10);

impl<S> RoundTrips<S> {
    async fn trip<T>(&self, call: impl Future<Output = T>) -> T {
        tokio::time::sleep(ROUND_TRIP).await;
        call.await
    }
}

impl<S: LedgerStore> LedgerStore for RoundTrips<S> {
    async fn head(&self) -> Result<Option<crate::ports::ChainHead>, StoreError> {
        self.trip(self.inner.head()).await
    }
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        self.trip(self.inner.append(entry, audit)).await
    }
    async fn find_by_signal_id(
        &self,
        signal_id: &SignalId,
    ) -> Result<Option<StoredEntry>, StoreError> {
        self.trip(self.inner.find_by_signal_id(signal_id)).await
    }
    async fn read_page(&self, from: u64, limit: u32) -> Result<crate::ports::Page, StoreError> {
        self.trip(self.inner.read_page(from, limit)).await
    }
    async fn entry_at(&self, chain_index: u64) -> Result<Option<StoredEntry>, StoreError> {
        self.trip(self.inner.entry_at(chain_index)).await
    }
    async fn claims(
        &self,
        signal_ids: &[SignalId],
    ) -> Result<Vec<(SignalId, crate::ports::Claim)>, StoreError> {
        self.trip(self.inner.claims(signal_ids)).await
    }
    async fn receipt(
        &self,
        signal_id: &SignalId,
        subscriber: &crate::domain::receipt::Subscriber,
    ) -> Result<Option<crate::domain::receipt::StoredReceipt>, StoreError> {
        self.trip(self.inner.receipt(signal_id, subscriber)).await
    }
    async fn receipts_of(
        &self,
        signal_id: &SignalId,
    ) -> Result<Vec<Result<crate::domain::receipt::StoredReceipt, StoreError>>, StoreError> {
        self.trip(self.inner.receipts_of(signal_id)).await
    }
}

impl<S: GroupCommitStore> GroupCommitStore for RoundTrips<S> {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        self.trip(self.inner.commit_head()).await
    }
    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        self.trip(self.inner.put_pending(generation, pending)).await
    }
    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        self.trip(self.inner.first_pending_ids(generation, limit))
            .await
    }
    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        self.trip(self.inner.pendings(generation)).await
    }
    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        self.trip(self.inner.commit_firsts(at_or_before, limit))
            .await
    }
    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        self.trip(self.inner.commit(head, entries, audits)).await
    }
    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        self.trip(self.inner.placed(signal_id)).await
    }
}

/// How long (in round trips of [`RoundTrips`]) one request takes on an otherwise idle ledger.
async fn round_trips<S: GroupCommitStore>(
    service: &Service<S>,
    request: HttpRequest,
) -> (u16, u32) {
    let started = tokio::time::Instant::now();
    let status = service.handle(request).await.status;
    let took = started.elapsed();
    assert_eq!(took.as_millis() % ROUND_TRIP.as_millis(), 0, "{took:?}");
    (status, (took.as_millis() / ROUND_TRIP.as_millis()) as u32)
}

#[tokio::test(start_paused = true)]
async fn a_lone_signal_is_one_round_trip_slower_than_the_single_append() {
    let mut costs = Vec::new();
    for protocol in [AppendProtocol::Single, AppendProtocol::GroupCommit] {
        let ledger = InMemoryLedger::new();
        let settings = IngestSettings {
            protocol,
            ..IngestSettings::default()
        };
        let service = service_with(
            RoundTrips {
                inner: ledger.clone(),
            },
            &ledger,
            settings,
        );
        let (status, trips) = round_trips(&service, post(&signal("s-1"))).await;
        assert_eq!(status, 201);
        costs.push(trips);
    }
    // Single: claim read, head read, transaction. Group commit: claim read beside the head
    // read, pending put, keys-only read of the generation, a commit of one.
    assert_eq!(costs, [3, 4]);
}

#[tokio::test(start_paused = true)]
async fn a_replay_is_answered_from_the_claim_read_beside_the_head_without_a_pending() {
    let ledger = InMemoryLedger::new();
    let service = service_with(
        RoundTrips {
            inner: ledger.clone(),
        },
        &ledger,
        IngestSettings::default(),
    );
    let (status, _) = round_trips(&service, post(&signal("s-1"))).await;
    assert_eq!(status, 201);
    let audited = ledger.audit_events().len();
    // An identical replay: 200 after one round trip (the claim and the head read together).
    assert_eq!(round_trips(&service, post(&signal("s-1"))).await, (200, 1));
    assert_eq!(
        ledger.audit_events().len(),
        audited,
        "a replay is not audited"
    );
    // A conflicting one: 409, audited once, after the same single round trip.
    let mut changed = signal("s-1");
    changed["entry_price"] = json!("151");
    assert_eq!(round_trips(&service, post(&changed)).await, (409, 1));
    let events = ledger.audit_events();
    assert_eq!(events.len(), audited + 1);
    assert_eq!(
        events.last().map(|e| e.event_type),
        Some(AuditEventType::ConflictingReplay)
    );
    // Neither entered: one pending (the original's), one entry, one commit.
    assert_eq!(ledger.all_pendings().len(), 1);
    assert_eq!(ledger.entries().len(), 1);
    assert_eq!(ledger.commit_count(), 1);
}

/// Commits take `COMMIT_TAKES` of paused time, every other group-commit call `ROUND_TRIP`; the
/// claim and head reads are counted.
#[derive(Debug)]
struct SlowCommits<S> {
    inner: S,
    claim_reads: AtomicU32,
    head_reads: AtomicU32,
}

const COMMIT_TAKES: Duration = Duration::from_secs(4);

impl<S> SlowCommits<S> {
    fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: LedgerStore> LedgerStore for SlowCommits<S> {
    delegate_reads!();
    async fn append(&self, entry: &StoredEntry, audit: &AuditEvent) -> Result<(), AppendError> {
        self.inner.append(entry, audit).await
    }
}

impl<S: GroupCommitStore> GroupCommitStore for SlowCommits<S> {
    async fn commit_head(&self) -> Result<CommitHead, StoreError> {
        self.head_reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.commit_head().await
    }
    async fn put_pending(&self, generation: u64, pending: &Pending) -> Result<(), StoreError> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.put_pending(generation, pending).await
    }
    async fn first_pending_ids(
        &self,
        generation: u64,
        limit: u32,
    ) -> Result<Vec<SignalId>, StoreError> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.first_pending_ids(generation, limit).await
    }
    async fn commit_firsts(&self, at_or_before: u64, limit: u32) -> Result<Vec<u64>, StoreError> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.commit_firsts(at_or_before, limit).await
    }
    async fn pendings(&self, generation: u64) -> Result<Vec<Pending>, StoreError> {
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.pendings(generation).await
    }
    async fn commit(
        &self,
        head: &CommitHead,
        entries: &[StoredEntry],
        audits: &[AuditEvent],
    ) -> Result<usize, CommitError> {
        tokio::time::sleep(COMMIT_TAKES).await;
        self.inner.commit(head, entries, audits).await
    }
    async fn placed(&self, signal_id: &SignalId) -> Result<Option<Placed>, StoreError> {
        self.claim_reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(ROUND_TRIP).await;
        self.inner.placed(signal_id).await
    }
}

#[test]
fn the_claim_is_read_less_often_as_the_wait_grows_and_bounded_by_the_cap() {
    use crate::app::ingest::group_commit::{check_pause, poll_pause};
    assert_eq!(poll_pause(Duration::ZERO), Duration::from_millis(15));
    assert_eq!(
        poll_pause(Duration::from_millis(400)),
        Duration::from_millis(100)
    );
    assert_eq!(
        poll_pause(Duration::from_secs(10)),
        Duration::from_millis(250)
    );
    assert_eq!(check_pause(Duration::ZERO), Duration::from_millis(100));
    assert_eq!(check_pause(Duration::from_secs(10)), Duration::from_secs(1));
    // A waiter of 5 s reads its claim ~30 times (every 15 ms, it was 330).
    let (mut waited, mut reads) = (Duration::from_millis(20), 0);
    while waited < Duration::from_secs(5) {
        reads += 1;
        waited += poll_pause(waited);
    }
    assert!((25..=35).contains(&reads), "{reads} claim reads in 5 s");
}

#[tokio::test(start_paused = true)]
async fn waiters_of_a_slow_commit_read_their_claims_and_the_head_a_bounded_number_of_times() {
    let ledger = InMemoryLedger::new();
    let store = SlowCommits {
        inner: ledger.clone(),
        claim_reads: AtomicU32::new(0),
        head_reads: AtomicU32::new(0),
    };
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    let started = tokio::time::Instant::now();
    let responses = burst(&service, (0..8).map(|n| post(&signal_n(n))).collect()).await;
    for r in &responses {
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    assert_one_sound_chain(&ledger, 8);
    // All answered within the claim-read cap of the commit's end (it took 4 s)...
    let took = started.elapsed();
    assert!(took < COMMIT_TAKES + Duration::from_millis(700), "{took:?}");
    // ...with a bounded number of reads: at 15 ms, 8 waiters of 4 s read 2,100 claims.
    let claim_reads = service.store.claim_reads.load(Ordering::SeqCst);
    let head_reads = service.store.head_reads.load(Ordering::SeqCst);
    assert!(claim_reads <= 8 * 30, "{claim_reads} claim reads");
    assert!(head_reads <= 8 * 12, "{head_reads} head reads");
}

#[tokio::test(start_paused = true)]
async fn a_combiner_that_takes_over_reads_the_generations_of_the_last_commits() {
    let ledger = InMemoryLedger::new();
    let store = RoundTrips {
        inner: ledger.clone(),
    };
    let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
    // Four commits of one: generations 0, 1, 2, 3; the head's next is 4.
    for n in 0..4 {
        assert_eq!(
            service
                .handle(post(&signal(&format!("s-{n}"))))
                .await
                .status,
            201
        );
    }
    // Pendings that landed in the generations of the three newest commits after their combiner's
    // last read (their owners still wait), and one in an older generation.
    let elsewhere = InMemoryLedger::new();
    let other = service_with(elsewhere.clone(), &elsewhere, IngestSettings::default());
    for id in ["late-1", "late-2", "late-3", "too-old"] {
        assert_eq!(other.handle(post(&signal(id))).await.status, 201);
    }
    let planted: HashMap<String, Pending> = elsewhere
        .all_pendings()
        .into_iter()
        .map(|(_, p)| (p.signal_id.to_string(), p))
        .collect();
    for (generation, id) in [(1, "late-1"), (2, "late-2"), (3, "late-3"), (0, "too-old")] {
        ledger.put_pending(generation, &planted[id]).await.unwrap();
    }
    // Two signals at once: one combines, and sequences what its predecessors would have read.
    let responses = burst(&service, (0..2).map(|n| post(&signal_n(n))).collect()).await;
    assert!(responses.iter().all(|r| r.status == 201));
    let ids = assert_one_sound_chain(&ledger, 9);
    for id in ["late-1", "late-2", "late-3"] {
        assert!(ids.iter().any(|i| i == id), "{id} not sequenced");
    }
    assert!(!ids.iter().any(|i| i == "too-old"));
}

mod interleavings {
    use proptest::prelude::*;

    use super::*;

    /// Runs `signals` concurrent posts (with `replays` of the first ones among them) over a store
    /// interleaved by `seed` (with `faults` per mille of commits throttled / answers lost), under
    /// a paused clock; answers statuses by request.
    fn run(
        seed: u64,
        signals: usize,
        replays: usize,
        max_yields: u32,
        faults: (u32, u32),
    ) -> (Vec<u16>, InMemoryLedger) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let ledger = InMemoryLedger::new();
            let store =
                Interleaved::new(ledger.clone(), seed, max_yields).with_faults(faults.0, faults.1);
            let service = Arc::new(service_with(store, &ledger, IngestSettings::default()));
            let mut requests: Vec<HttpRequest> = (0..signals).map(|n| post(&signal_n(n))).collect();
            requests.extend((0..replays.min(signals)).map(|n| post(&signal_n(n))));
            let responses = burst(&service, requests).await;
            (responses.iter().map(|r| r.status).collect(), ledger)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever the interleaving: every request answered 201 or (a replay) 200, each signal
        /// stored once in one intact chain, one insert event each.
        #[test]
        fn any_interleaving_stores_each_signal_once(
            seed in any::<u64>(),
            signals in 1usize..60,
            replays in 0usize..5,
            max_yields in 0u32..6,
        ) {
            let (statuses, ledger) = run(seed, signals, replays, max_yields, (0, 0));
            let created = statuses.iter().filter(|s| **s == 201).count();
            let replayed = statuses.iter().filter(|s| **s == 200).count();
            prop_assert_eq!(created + replayed, statuses.len(), "{:?}", statuses);
            // A replay racing its original at the same instant (the fixed clock) rebuilds the very
            // entry that is stored, so it may be answered 201 as well as 200.
            prop_assert!(created >= signals && created <= signals + replays.min(signals));
            let ids = assert_one_sound_chain(&ledger, signals);
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for id in ids {
                *counts.entry(id).or_default() += 1;
            }
            prop_assert!(counts.values().all(|c| *c == 1));
        }

        /// With throttled commits and lost answers: no request is answered 201 for a signal
        /// that is not stored, none is stored twice, the chain stays intact with one insert event
        /// per entry, and a request is only ever 201 or 503 (outcome unknown).
        #[test]
        fn faults_never_lose_fork_or_duplicate(
            seed in any::<u64>(),
            signals in 1usize..40,
            max_yields in 1u32..5,
            throttled in 0u32..400,
            lost in 0u32..400,
        ) {
            let (statuses, ledger) = run(seed, signals, 0, max_yields, (throttled, lost));
            prop_assert!(statuses.iter().all(|s| [201, 503].contains(s)), "{:?}", statuses);
            let stored: Vec<String> = assert_one_sound_chain(&ledger, ledger.entries().len());
            for (n, status) in statuses.iter().enumerate() {
                if *status == 201 {
                    let id = format!("c-{n:04}");
                    prop_assert!(stored.contains(&id), "{} answered 201, not stored", id);
                }
            }
        }
    }
}
