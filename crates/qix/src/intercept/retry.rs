//! The ready-made retry of calls the engine aborted (Q-RETRY-2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qix_session::Backoff;

use super::{Outcome, Request, ResponseInterceptor, Verdict};
use crate::EngineCode;

/// Retries a call that failed with the engine's "Request aborted" (`LOCERR_GENERIC_ABORTED`,
/// 15) up to a number of times, waiting a back-off before each retry (Q-RETRY-2). The engine
/// aborts a request it did not finish, typically because a selection or another request
/// made it obsolete, so sending it again is what enigma.js's `retry-aborted` example does.
/// After the last retry the engine's error reaches the caller.
///
/// The waits follow tokio's clock (a paused clock in tests), and use the same [`Backoff`]
/// as the automatic resume. Default: 3 retries, 100 ms doubling to 2 s, jittered.
///
/// ```
/// use std::time::Duration;
/// use qix::intercept::RetryAborted;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), qix::Error> {
/// let session = qix::Session::builder("ws://127.0.0.1:9076/app/engineData")
///     .response_interceptor(
///         RetryAborted::new(5).backoff(qix::Backoff::Delays(vec![Duration::from_millis(250)])),
///     )
///     .build()?;
/// # drop(session);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RetryAborted {
    retries: u32,
    backoff: Backoff,
    reads_only: bool,
    /// xorshift state for the jitter.
    random: AtomicU64,
}

impl RetryAborted {
    /// Retries an aborted call at most `retries` times (0 never retries).
    pub fn new(retries: u32) -> Self {
        Self {
            retries,
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(2),
                jitter: true,
            },
            reads_only: false,
            random: AtomicU64::new(crate::builder::random_seed()),
        }
    }

    /// The waits before the retries: the delay before retry `n` is the back-off's delay of
    /// attempt `n`.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Retries only methods that read ([`qix_session::is_read_method`]). Default `false`:
    /// an aborted call did not finish, whatever its method.
    pub fn reads_only(mut self, reads_only: bool) -> Self {
        self.reads_only = reads_only;
        self
    }

    fn next_random(&self) -> u64 {
        // A lost race only repeats a jitter value.
        let (next, value) = Backoff::jitter_step(self.random.load(Ordering::Relaxed));
        self.random.store(next, Ordering::Relaxed);
        value
    }
}

#[async_trait::async_trait]
impl ResponseInterceptor for RetryAborted {
    async fn intercept(&self, request: Arc<Request>, outcome: Outcome) -> Verdict {
        let aborted = matches!(&outcome, Err(error) if error.engine_code() == Some(EngineCode::GenericAborted));
        let allowed = !self.reads_only || qix_session::is_read_method(request.method());
        if !aborted || !allowed || request.attempt() >= self.retries {
            return Verdict::Pass(outcome);
        }
        let delay = self
            .backoff
            .delay(request.attempt() + 1, || self.next_random());
        tokio::time::sleep(delay).await;
        Verdict::Retry
    }
}
