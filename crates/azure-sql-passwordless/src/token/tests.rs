//! Tests of the token cache: the policy's numbers, single flight, background renewal, backoff,
//! failures and their errors, runtimes that go away, the wall clock, redaction.

use super::*;
use azure_core::error::ErrorKind;
use azure_core::http::StatusCode;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// A provider that counts its requests, issues tokens living `lifetime`, fails the next
/// `fail_next` requests with an Entra-shaped error, and can be held with a semaphore.
#[derive(Debug)]
struct Counting {
    lifetime: Duration,
    fetches: AtomicU64,
    fail_next: AtomicU32,
    gate: Option<Arc<Semaphore>>,
    times: Mutex<Vec<Instant>>,
    _dropped: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Counting {
    fn new(lifetime: Duration) -> Self {
        Self {
            lifetime,
            fetches: AtomicU64::new(0),
            fail_next: AtomicU32::new(0),
            gate: None,
            times: Mutex::new(Vec::new()),
            _dropped: None,
        }
    }
    fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl TokenProvider for Counting {
    async fn fetch(&self, scope: &str) -> azure_core::Result<AccessToken> {
        assert_eq!(scope, "https://database.windows.net/.default");
        let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        if let Ok(mut times) = self.times.lock() {
            times.push(Instant::now());
        }
        if let Some(gate) = &self.gate {
            if let Ok(permit) = gate.acquire().await {
                permit.forget();
            }
        }
        if self
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(azure_core::Error::with_message(
                ErrorKind::HttpResponse {
                    status: StatusCode::ServiceUnavailable,
                    error_code: Some("90033".into()),
                    raw_response: None,
                },
                "AADSTS90033: A transient error has occurred. Please try again.",
            ));
        }
        let lifetime = time::Duration::try_from(self.lifetime).unwrap_or_default();
        Ok(AccessToken::new(
            format!("eyJ0eXAiOiJKV1QifQ.token-{n}.sig"),
            OffsetDateTime::now_utc() + lifetime,
        ))
    }
    fn kind(&self) -> &'static str {
        "counting"
    }
}

const SCOPE: &str = "https://database.windows.net/.default";

fn source(p: &Arc<Counting>) -> TokenSource {
    TokenSource::new(p.clone(), SCOPE)
}

#[test]
fn default_policy_numbers_scale_with_the_lifetime() {
    let p = RenewalPolicy::default();
    let min = |m: u64| Duration::from_secs(m * 60);
    // Entra's tokens live 60–90 minutes: renewed 12 and 18 minutes before expiry.
    let hour = p.scaled(min(60));
    assert_eq!(hour.renew_after, min(48));
    assert_eq!(hour.min_remaining, min(2));
    assert_eq!(hour.retry_initial, Duration::from_secs(1));
    assert_eq!(hour.retry_max, Duration::from_secs(60));
    assert_eq!(hour.fetch_timeout, Duration::from_secs(30));
    assert_eq!(p.scaled(min(90)).renew_after, min(72));
    // A 24-hour managed identity token: 4.8 hours ahead.
    let day = p.scaled(min(24 * 60));
    assert_eq!(day.renew_after, Duration::from_secs(24 * 3600 * 4 / 5));
    // A late custom fraction is held back by the renew-before-expiry floor: 10 minutes
    // before expiry, or 80% of a token living under 50 minutes.
    let late = RenewalPolicy {
        renew_at_fraction: 0.99,
        ..RenewalPolicy::default()
    };
    assert_eq!(late.scaled(min(60)).renew_after, min(50));
    assert_eq!(late.scaled(min(20)).renew_after, min(16));
    let six = p.scaled(Duration::from_secs(6));
    assert_eq!(six.renew_after, Duration::from_millis(4800));
    assert_eq!(six.min_remaining, Duration::from_millis(600));
    assert_eq!(six.retry_initial, Duration::from_millis(60));
    assert_eq!(six.retry_max, Duration::from_millis(300));
    assert_eq!(six.fetch_timeout, Duration::from_millis(600));
    // Two requests that each run into the timeout still end before the token expires.
    for life in [6, 60, 20 * 60, 3600, 24 * 3600].map(Duration::from_secs) {
        let m = p.scaled(life);
        assert!(
            m.renew_after + m.fetch_timeout * 2 <= life,
            "{life:?}: {m:?}"
        );
    }
    assert_eq!(
        late.scaled(Duration::from_secs(6)).renew_after,
        Duration::from_millis(4800)
    );
    // Nonsense fractions cannot schedule renewal after callers would wait.
    let odd = RenewalPolicy {
        renew_at_fraction: f64::NAN,
        renew_before_expiry: Duration::from_secs(100_000),
        ..RenewalPolicy::default()
    };
    let m = odd.scaled(Duration::from_secs(6));
    assert!(m.renew_after + m.min_remaining <= Duration::from_secs(6));
    assert_eq!(
        m.renew_after,
        Duration::from_millis(4800),
        "NaN: the default"
    );
}

#[test]
fn the_default_renews_at_80_percent_of_any_lifetime_before_connections_retire() {
    let p = RenewalPolicy::default();
    let mut lifetime = Duration::from_millis(100);
    while lifetime <= Duration::from_secs(48 * 3600) {
        let m = p.scaled(lifetime);
        // 1.25 requests per lifetime, whatever the lifetime (to the nanosecond).
        let at_80 = lifetime.mul_f64(0.8);
        assert!(
            m.renew_after.abs_diff(at_80) <= Duration::from_nanos(1),
            "{lifetime:?}: renews after {:?}",
            m.renew_after
        );
        // The pool retires a connection from `min_remaining` plus up to a tenth of the
        // lifetime before its token expires: renewal has started by then, so replacement
        // logins carry the new token.
        let first_retirement = lifetime - m.min_remaining - lifetime / 10;
        assert!(m.renew_after <= first_retirement, "{lifetime:?}: {m:?}");
        // Callers never wait while renewal is due: it starts before the last margin.
        assert!(m.renew_after + m.min_remaining < lifetime, "{lifetime:?}");
        lifetime = lifetime * 3 / 2;
    }
}

#[test]
fn expiry_is_counted_a_second_and_the_request_early() {
    let token = |secs: i64| {
        AccessToken::new(
            "t".to_string(),
            OffsetDateTime::now_utc() + time::Duration::seconds(secs),
        )
    };
    let near = |d: Duration, want: Duration| d <= want && want - d < Duration::from_millis(5);
    // Whole-second `exp`, and an `expires_on` counted from the answer's arrival: the token
    // may expire up to a second plus the request's 200 ms before what `expires_on` says.
    let hour = receive(token(3600), Instant::now(), Duration::from_millis(200)).expect("ok");
    assert!(
        near(hour.lifetime(), Duration::from_millis(3_598_800)),
        "{hour:?}"
    );
    // Short test tokens keep at least half of what is left.
    let three = receive(token(3), Instant::now(), Duration::ZERO).expect("ok");
    assert!(near(three.lifetime(), Duration::from_secs(2)), "{three:?}");
    let two = receive(token(2), Instant::now(), Duration::from_millis(300)).expect("ok");
    assert!(near(two.lifetime(), Duration::from_secs(1)), "{two:?}");
    let err = receive(token(-5), Instant::now(), Duration::ZERO).expect_err("expired");
    assert!(err.to_string().contains("already expired"), "{err}");
}

#[test]
fn backoff_from_an_extreme_policy_neither_panics_nor_exceeds_a_day() {
    for failures in [1, 2, 30] {
        let d = backoff(failures, Duration::MAX, Duration::MAX);
        assert!(d <= BACKOFF_CEILING.mul_f64(1.25), "{d:?}");
        assert!(Instant::now().checked_add(d).is_some());
    }
}

#[test]
fn backoff_doubles_with_jitter_and_stops_at_the_max() {
    let initial = Duration::from_millis(100);
    let max = Duration::from_millis(1000);
    for failures in 1..=10 {
        let d = backoff(failures, initial, max);
        let base = (initial * (1 << (failures - 1))).min(max);
        assert!(
            d >= base.mul_f64(0.75) && d <= base.mul_f64(1.25),
            "{failures}: {d:?}"
        );
    }
    assert!(backoff(u32::MAX, initial, max) <= max.mul_f64(1.25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_callers_cause_one_request() {
    let p = Arc::new(Counting::new(Duration::from_secs(60)));
    let tokens = source(&p);
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let t = tokens.clone();
        tasks.push(tokio::spawn(async move { t.token().await }));
    }
    for t in tasks {
        let token = t.await.expect("task").expect("token");
        assert!(token.secret().ends_with("token-1.sig"));
    }
    assert_eq!(p.fetches(), 1);
    assert_eq!(tokens.state().fetches, 1);
}

#[tokio::test(start_paused = true)]
async fn renews_in_the_background_before_expiry_without_callers_waiting() {
    // 2 s tokens, counted as 1 s (whole-second expiry): renewal every 0.8 s.
    let p = Arc::new(Counting::new(Duration::from_secs(2)));
    let tokens = source(&p);
    let first = tokens.token().await.expect("first token");
    assert_eq!(
        tokens.state().waits,
        1,
        "the very first call waits for the first request"
    );
    assert!(first.lifetime() <= Duration::from_secs(1));
    let renew_after = tokens.policy().scaled(first.lifetime()).renew_after;
    assert!(renew_after > Duration::from_millis(790), "{renew_after:?}");
    // Call every 20 ms across three lifetimes; every call must be answered from the cache
    // with a token that is not about to expire.
    let min_remaining = tokens.policy().scaled(first.lifetime()).min_remaining;
    let deadline = Instant::now() + Duration::from_millis(4500);
    let mut seen = vec![first.secret().to_owned()];
    while Instant::now() < deadline {
        let t = tokens.token().await.expect("token");
        assert!(
            t.expires_in() > min_remaining,
            "handed out a nearly expired token: {t:?}"
        );
        if seen.last().map(String::as_str) != Some(t.secret()) {
            seen.push(t.secret().to_owned());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = tokens.state();
    assert_eq!(
        state.waits, 1,
        "no caller after the first waited: {state:?}"
    );
    // Renewal at 80% of the lifetime: requests at 0, 0.8, 1.6, 2.4, 3.2 and 4 s, each while
    // the token it replaced still had a fifth of its lifetime left.
    assert_eq!(p.fetches(), 6);
    let times = p.times.lock().expect("times").clone();
    for gap in times.windows(2).map(|w| w[1] - w[0]) {
        assert!(
            gap.abs_diff(renew_after) < Duration::from_millis(2),
            "renewed {gap:?} after the previous request, not {renew_after:?}"
        );
    }
    assert_eq!(seen.len(), 6, "each renewal replaced the token");
}

#[tokio::test(start_paused = true)]
async fn an_hour_long_token_is_renewed_12_minutes_before_expiry_under_paused_time() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    let tokens = source(&p);
    tokens.token().await.expect("token");
    let due = tokens.state().renewal_due_in.expect("due");
    // 80% of the lifetime, counted from an expiry one second early (less the microseconds
    // the wall clock moved during the request): 2879.2 s.
    assert!(
        due <= Duration::from_millis(2_879_200) && due > Duration::from_millis(2_879_000),
        "{due:?}"
    );
    tokio::time::sleep(Duration::from_secs(2879)).await;
    assert_eq!(p.fetches(), 1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(p.fetches(), 2);
    // 24 hours: one request every 48 minutes, 1.25 an hour (half-life renewal made 48).
    tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
    assert_eq!(p.fetches(), 2 + 30);
    assert_eq!(tokens.state().waits, 1);
}

#[tokio::test(start_paused = true)]
async fn failed_renewal_keeps_serving_the_valid_token_and_retries_with_backoff() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    let tokens = source(&p);
    let first = tokens.token().await.expect("token");
    p.fail_next.store(5, Ordering::SeqCst);
    // Past the renewal point: the renewals fail, the first token keeps serving at once.
    tokio::time::sleep(Duration::from_secs(2881)).await;
    let t = tokens.token().await.expect("still serving");
    assert_eq!(t.secret(), first.secret());
    // Backoff: 1, 2, 4, 8, 16 s (±25%) after the failures, then the 6th request succeeds.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let state = tokens.state();
    assert_eq!(state.failures, 5);
    assert_eq!(p.fetches(), 7);
    assert_eq!(state.consecutive_failures, 0);
    assert!(matches!(
        state.last_refresh.map(|r| r.outcome),
        Some(RefreshOutcome::Ok { .. })
    ));
    assert_ne!(
        tokens.token().await.expect("token").secret(),
        first.secret()
    );
    assert_eq!(tokens.state().waits, 1);
}

#[tokio::test(start_paused = true)]
async fn backoff_spacing_is_exponential() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    let tokens = source(&p);
    tokens.token().await.expect("token");
    p.fail_next.store(u32::MAX, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(2880 + 300)).await;
    let times = p.times.lock().expect("times").clone();
    // The first request, then the failed renewal at 2879 s and its retries.
    let gaps: Vec<f64> = times[1..]
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect();
    // 1, 2, 4, 8, 16, 32, 60, 60 s, each ±25%.
    let expected = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0];
    assert!(gaps.len() >= expected.len(), "gaps {gaps:?}");
    for (gap, want) in gaps.iter().zip(expected) {
        assert!(*gap >= want * 0.75 && *gap <= want * 1.25, "gaps {gaps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_entra_outage_from_the_renewal_on_gets_13_to_19_attempts_before_callers_notice() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    let tokens = source(&p);
    let first = tokens.token().await.expect("token");
    p.fail_next.store(u32::MAX, Ordering::SeqCst);
    // Renewal starts at 2879.2 s; callers would have to wait from 3479 s (the token, counted
    // as expiring at 3599 s, has 2 minutes left). Just before that, the first token still
    // serves at once and renewal has been retried with backoff all along.
    tokio::time::sleep(Duration::from_secs(3478)).await;
    let t = tokens.token().await.expect("still serving");
    assert_eq!(t.secret(), first.secret());
    let state = tokens.state();
    assert_eq!(state.waits, 1, "{state:?}");
    assert!(
        (13..=19).contains(&state.failures),
        "{} attempts in the 10 minutes of head start",
        state.failures
    );
    assert_eq!(p.fetches(), 1 + state.failures);
}

#[tokio::test(start_paused = true)]
async fn a_failing_renewal_leaves_the_token_serving_until_it_expires_then_says_why() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    let tokens = source(&p);
    let first = tokens.token().await.expect("token");
    p.fail_next.store(u32::MAX, Ordering::SeqCst);
    // The token counts as expiring at 3599 s. Inside its last 2 minutes (from 3479 s), with
    // renewal failing, it still serves, at once: nobody waits on the failing provider.
    tokio::time::sleep(Duration::from_secs(3490)).await;
    let t = tokens.token().await.expect("served inside the last margin");
    assert_eq!(t.secret(), first.secret());
    let waits = tokens.state().waits;
    let fetches = p.fetches();
    tokio::time::sleep(Duration::from_secs(100)).await;
    let t = tokens.token().await.expect("served 9 s before expiry");
    assert_eq!(t.secret(), first.secret());
    assert!(t.expires_in() <= Duration::from_secs(10), "{t:?}");
    let state = tokens.state();
    assert_eq!(state.waits, waits, "nobody waited: {state:?}");
    assert!(p.fetches() > fetches, "renewal kept retrying");
    // Past expiry: the error says since when, and why renewal fails.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let err = tokens.token().await.expect_err("expired");
    assert!(
        matches!(err, Error::TokenExpired { expired_ago, .. } if expired_ago < Duration::from_secs(2)),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("AADSTS90033: A transient error has occurred"),
        "{text}"
    );
    assert!(text.contains("from counting"), "{text}");
    assert!(!text.contains("eyJ"), "{text}");
    // Entra recovers: the next caller past the backoff gets a fresh token.
    p.fail_next.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(80)).await;
    let t = tokens.token().await.expect("recovered");
    assert!(t.expires_in() > Duration::from_secs(3500));
}

#[tokio::test(start_paused = true)]
async fn inside_the_last_margin_callers_wait_for_the_renewal_until_one_fails() {
    // A policy whose renewal starts only as the token enters its last 2 minutes (3479 s),
    // and a provider that answers the first request only: the renewal stalls until its
    // 30-second timeout.
    let gate = Arc::new(Semaphore::new(1));
    let p = Arc::new(Counting {
        gate: Some(gate),
        ..Counting::new(Duration::from_secs(3600))
    });
    let policy = RenewalPolicy {
        renew_at_fraction: 1.0,
        renew_before_expiry: Duration::ZERO,
        ..RenewalPolicy::default()
    };
    let tokens = TokenSource::with_policy(p.clone(), SCOPE, policy);
    let first = tokens.token().await.expect("token");
    tokio::time::sleep(Duration::from_secs(3480)).await;
    // Too close to expiry, and renewal has not failed yet: the caller waits on it...
    let caller = tokio::spawn({
        let tokens = tokens.clone();
        async move { tokens.token().await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!caller.is_finished(), "the caller waits on the renewal");
    assert_eq!(tokens.state().waits, 2, "the first call, and this one");
    // ...until it fails (times out): then the still-valid token is the answer.
    let t = caller.await.expect("caller").expect("the cached token");
    assert_eq!(t.secret(), first.secret());
    assert_eq!(tokens.state().failures, 1);
    // From then on, callers get it at once while the task retries.
    let t = tokens.token().await.expect("the cached token");
    assert_eq!(t.secret(), first.secret());
    assert_eq!(tokens.state().waits, 2);
}

#[tokio::test(start_paused = true)]
async fn first_failure_is_returned_and_later_callers_do_not_hammer_the_provider() {
    let p = Arc::new(Counting::new(Duration::from_secs(3600)));
    p.fail_next.store(1, Ordering::SeqCst);
    let tokens = source(&p);
    let err = tokens.token().await.expect_err("first request fails");
    assert!(
        matches!(
            err,
            Error::TokenAcquisition {
                provider: "counting",
                ..
            }
        ),
        "{err:?}"
    );
    // Within the backoff delay: the same error, no new request.
    let again = tokens.token().await.expect_err("blocked");
    assert_eq!(again.to_string(), err.to_string());
    assert_eq!(p.fetches(), 1);
    // An unused source does not retry on its own.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(p.fetches(), 1);
    tokens.token().await.expect("next caller succeeds");
    assert_eq!(p.fetches(), 2);
}

#[tokio::test]
async fn callers_wait_on_the_one_in_flight_request() {
    let gate = Arc::new(Semaphore::new(0));
    let p = Arc::new(Counting {
        gate: Some(gate.clone()),
        ..Counting::new(Duration::from_secs(60))
    });
    let tokens = source(&p);
    let waiters: Vec<_> = (0..50)
        .map(|_| {
            let t = tokens.clone();
            tokio::spawn(async move { t.token().await })
        })
        .collect();
    // Let every waiter reach the wait, then release the one request.
    while tokens.state().waits < 50 || !tokens.state().renewing {
        tokio::task::yield_now().await;
    }
    gate.add_permits(1);
    for w in waiters {
        w.await.expect("task").expect("token");
    }
    assert_eq!(p.fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_provider_times_out() {
    let gate = Arc::new(Semaphore::new(0));
    let p = Arc::new(Counting {
        gate: Some(gate),
        ..Counting::new(Duration::from_secs(60))
    });
    let tokens = source(&p);
    let err = tokens.token().await.expect_err("stalled");
    assert!(err.to_string().contains("no answer within 30s"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn the_same_token_again_is_retried_with_backoff_not_in_a_loop() {
    // An upstream cache (IMDS, `az`) answering with the token we already hold, which expires
    // at a fixed instant. Paused time does not move the wall clock, so the provider states
    // the expiry relative to Tokio's clock, as a real one would relative to the wall clock.
    #[derive(Debug)]
    struct Cached(Instant, AtomicU64);
    #[async_trait::async_trait]
    impl TokenProvider for Cached {
        async fn fetch(&self, _: &str) -> azure_core::Result<AccessToken> {
            let n = self.1.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(n < 100, "the provider is being asked in a loop");
            let left = self.0.saturating_duration_since(Instant::now());
            let left = time::Duration::try_from(left).unwrap_or_default();
            Ok(AccessToken::new(
                "same".to_string(),
                OffsetDateTime::now_utc() + left,
            ))
        }
        fn kind(&self) -> &'static str {
            "cached"
        }
    }
    let p = Arc::new(Cached(
        Instant::now() + Duration::from_secs(3600),
        AtomicU64::new(0),
    ));
    let tokens = TokenSource::new(p.clone(), SCOPE);
    tokens.token().await.expect("token");
    tokio::time::sleep(Duration::from_secs(3590)).await;
    // Renewal at 2879 s gets the same token back (12 minutes left), then again after 80%
    // of what is left each time (3455 s, 3569 s): a handful of requests, not a loop.
    let n = p.1.load(Ordering::SeqCst);
    assert_eq!(n, 4, "requests");
    let t = tokens.token().await.expect("the same token still serves");
    assert_eq!(t.secret(), "same");
    assert_eq!(tokens.state().waits, 1);
}

#[tokio::test]
async fn the_task_stops_when_the_last_handle_is_dropped() {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let gate = Arc::new(Semaphore::new(0));
    let p = Arc::new(Counting {
        _dropped: Some(tx),
        gate: Some(gate.clone()),
        ..Counting::new(Duration::from_millis(300))
    });
    let tokens = TokenSource::new(p, SCOPE);
    let second = tokens.clone();
    gate.add_permits(1);
    tokens.token().await.expect("token");
    drop(tokens);
    // One handle left: the task keeps renewing (the gate holds the next request).
    second.token().await.expect("token");
    drop(second);
    // The task held the provider; with every handle gone it ends (even mid-request) and
    // drops it, which fires the provider's drop signal.
    tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("the task did not stop")
        .ok();
}

#[test]
fn a_runtime_that_goes_away_does_not_strand_the_source() {
    let p = Arc::new(Counting::new(Duration::from_millis(200)));
    let tokens = source(&p);
    for round in 0..2 {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let before = p.fetches();
        rt.block_on(async {
            let renewed = tokio::time::timeout(Duration::from_secs(10), async {
                let first = tokens.token().await.expect("token");
                // Outlive it: only a request made from this runtime can answer now.
                tokio::time::sleep(first.expires_in() + Duration::from_millis(10)).await;
                let later = tokens.token().await.expect("token after renewal");
                assert_ne!(later.secret(), first.secret(), "round {round}");
            })
            .await;
            renewed.expect("stranded: no task answered in the new runtime");
        });
        drop(rt);
        assert!(p.fetches() > before, "round {round}: nothing fetched");
    }
}

#[test]
fn a_runtime_that_goes_away_mid_request_does_not_strand_later_callers() {
    // The first request is held by the gate when its runtime shuts down: the task dies in
    // the middle of it. A caller on another runtime must get a token, not wait for an answer
    // to a request nobody is making any more.
    let gate = Arc::new(Semaphore::new(0));
    let p = Arc::new(Counting {
        gate: Some(gate.clone()),
        ..Counting::new(Duration::from_secs(60))
    });
    let tokens = source(&p);
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    first.block_on(async {
        let t = tokens.clone();
        tokio::spawn(async move { t.token().await });
        while !tokens.state().renewing {
            tokio::task::yield_now().await;
        }
    });
    drop(first);
    assert_eq!(p.fetches(), 1);
    gate.add_permits(1);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    second.block_on(async {
        // Paused time: the timeout only fires once nothing else can make progress.
        let got = tokio::time::timeout(Duration::from_secs(3600), tokens.token()).await;
        got.expect("stranded: waiting on a request whose task had died")
            .expect("token");
        assert!(!tokens.state().renewing);
    });
    assert_eq!(p.fetches(), 2);
}

#[test]
fn a_task_dropped_before_its_first_poll_does_not_strand_later_callers() {
    // Runtime A fetches; its task ends with it. Runtime B (current-thread) answers from the
    // cache, which spawns a new task that B never polls before it is dropped. Runtime C,
    // once the token has expired, must get a new one rather than wait on that task.
    let p = Arc::new(Counting::new(Duration::from_millis(1500)));
    let tokens = source(&p);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    };
    let first = runtime().block_on(async { tokens.token().await.expect("token") });
    runtime().block_on(async {
        let cached = tokens.token().await.expect("cached");
        assert_eq!(cached.secret(), first.secret(), "answered from the cache");
    });
    // The token's expiry is wall-clock time, not something to await from here.
    std::thread::sleep(first.expires_in() + Duration::from_millis(10));
    runtime().block_on(async {
        let renewed = tokio::time::timeout(Duration::from_secs(10), tokens.token()).await;
        let renewed = renewed
            .expect("stranded: waiting on a task that was never polled")
            .expect("token");
        assert_ne!(renewed.secret(), first.secret());
    });
    assert_eq!(p.fetches(), 2);
}

#[test]
fn a_token_past_its_wall_clock_expiry_is_expired_whatever_the_monotonic_clock_says() {
    // After a system suspend Tokio's clock has not moved but the wall clock has.
    let now = Instant::now();
    let token = |wall_left: i64| Token {
        secret: Arc::from("t"),
        expiry: Expiry {
            at: now + Duration::from_secs(3600),
            at_wall: OffsetDateTime::now_utc() + time::Duration::seconds(wall_left),
        },
        expires_on: OffsetDateTime::now_utc() + time::Duration::seconds(wall_left),
        lifetime: Duration::from_secs(3600),
    };
    let slept = token(-30);
    assert!(slept.expired(now));
    assert_eq!(slept.expires_in(), Duration::ZERO);
    assert!(slept.expiry.passed_ago(now) >= Duration::from_secs(29));
    let st = State {
        current: Some(slept),
        ..State::default()
    };
    assert!(st.usable(now, &RenewalPolicy::default()).is_none());
    // Inside the last margin by the wall clock: not handed to a new login either.
    let st = State {
        current: Some(token(60)),
        ..State::default()
    };
    assert!(st.usable(now, &RenewalPolicy::default()).is_none());
    let fresh = token(3000);
    assert!(!fresh.expired(now));
    assert!(fresh.left(now) <= Duration::from_secs(3000));
    let st = State {
        current: Some(fresh),
        ..State::default()
    };
    assert!(st.usable(now, &RenewalPolicy::default()).is_some());
}

#[tokio::test(start_paused = true)]
async fn a_provider_that_panics_fails_the_waiting_caller_instead_of_hanging_it() {
    #[derive(Debug)]
    struct PanicsFirst(AtomicU64);
    #[async_trait::async_trait]
    impl TokenProvider for PanicsFirst {
        async fn fetch(&self, _: &str) -> azure_core::Result<AccessToken> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("a bug in the token callback");
            }
            Ok(AccessToken::new(
                "eyJ0eXAiOiJKV1QifQ.after-panic.sig".to_string(),
                OffsetDateTime::now_utc() + time::Duration::minutes(60),
            ))
        }
        fn kind(&self) -> &'static str {
            "panics first"
        }
    }
    let p = Arc::new(PanicsFirst(AtomicU64::new(0)));
    let tokens = TokenSource::new(p.clone(), SCOPE);
    // Paused time: the timeout only fires once nothing else can make progress.
    let first = tokio::time::timeout(Duration::from_secs(3600), tokens.token())
        .await
        .expect("hung: the caller waited on a request whose task had panicked");
    let err = first.expect_err("the request panicked");
    assert!(err.to_string().contains("panicked"), "{err}");
    let state = tokens.state();
    assert!(!state.renewing);
    assert_eq!((state.failures, state.consecutive_failures), (1, 1));
    // The next request, once the backoff has passed, goes to the provider again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = tokio::time::timeout(Duration::from_secs(3600), tokens.token())
        .await
        .expect("hung after a panic")
        .expect("token");
    assert!(t.secret().contains("after-panic"));
    assert_eq!(p.0.load(Ordering::SeqCst), 2);
}

#[test]
fn outside_tokio_it_is_a_clear_error() {
    let p = Arc::new(Counting::new(Duration::from_secs(60)));
    let tokens = source(&p);
    let result = std::thread::spawn(move || futures_util::FutureExt::now_or_never(tokens.token()))
        .join()
        .expect("thread");
    assert!(matches!(result, Some(Err(Error::NoRuntime))), "{result:?}");
}

#[tokio::test]
async fn debug_output_never_shows_the_token() {
    let p = Arc::new(Counting::new(Duration::from_secs(60)));
    let tokens = source(&p);
    let t = tokens.token().await.expect("token");
    let shown = format!("{t:?} {tokens:?} {:?}", tokens.state());
    assert!(!shown.contains(t.secret()), "{shown}");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert!(shown.contains("<redacted>"));
}
