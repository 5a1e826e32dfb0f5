//! Interceptors: code of the user's that sees every call on its way out and every outcome on
//! its way back (enigma.js's request and response interceptors, I1-I7).
//!
//! A [`RequestInterceptor`] gets each [`Request`] before it is encoded and may change it (the
//! method, the params, the object it targets) or refuse it with an error: the call then fails
//! and nothing is written. A [`ResponseInterceptor`] gets each outcome with the request that
//! caused it and may pass it on changed, turn an error into a value (or the reverse), or ask
//! for a retry ([`Verdict::Retry`]): the request goes through the whole pipeline again and is
//! written with a new id.
//!
//! Both kinds run in the order they were registered on the
//! [`SessionBuilder`](crate::SessionBuilder), in the task of whoever made the call (never on
//! the session's driver, so a slow interceptor slows only its own calls). A session without
//! interceptors pays nothing: its calls take the same path as before, with no
//! `serde_json::Value` built. With interceptors, params and results travel through them as
//! `Value`s, and a typed call ([`Object::call_with`]) converts at either end.
//!
//! ```
//! use qix::intercept::{request_fn, response_fn, Answer, Verdict};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let engine = qix_mock::MockEngine::start().await?;
//! let session = qix::Session::builder(engine.app_url("my.qvf"))
//!     // Refuse reloads from this program.
//!     .request_interceptor(request_fn(|request| async move {
//!         if request.method() == "DoReload" {
//!             return Err(qix::Error::Refused("no reloads from here".into()));
//!         }
//!         Ok(request)
//!     }))
//!     // An unknown method answers null instead of failing.
//!     .response_interceptor(response_fn(|_request, outcome| async move {
//!         match outcome {
//!             Err(error) if error.engine_code() == Some(qix::EngineCode::from(-32601)) => {
//!                 Verdict::Pass(Ok(Answer::Value(json!(null))))
//!             }
//!             outcome => Verdict::Pass(outcome),
//!         }
//!     }))
//!     .build()?;
//! let global = session.open().await?;
//! assert_eq!(global.call("NoSuchMethod", json!([])).await?, json!(null));
//! assert!(matches!(global.call("DoReload", json!([])).await, Err(qix::Error::Refused(_))));
//! # Ok(())
//! # }
//! ```
//!
//! [`RetryAborted`] is a ready-made response interceptor that retries calls the engine
//! aborted.

mod retry;

pub use retry::RetryAborted;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use crate::{Error, Handle, Object};

/// A call on its way out, as interceptors see it (enigma.js I2): the object it targets (and so
/// its handle), the method and the params.
///
/// The target is an [`Object`], not a bare handle: handles change when a resume restores an
/// object, and the session sends to the object's current one.
#[derive(Debug, Clone)]
pub struct Request {
    object: Object,
    method: String,
    params: Value,
    returns_object: bool,
    attempt: u32,
}

impl Request {
    pub(crate) fn new(object: Object, method: &str, params: Value, returns_object: bool) -> Self {
        Self {
            object,
            method: method.to_owned(),
            params,
            returns_object,
            attempt: 0,
        }
    }

    /// The object the call targets.
    pub fn object(&self) -> &Object {
        &self.object
    }

    /// Sends the call to another object instead (its handle, its events).
    pub fn set_object(&mut self, object: Object) {
        self.object = object;
    }

    /// The handle the call goes to: its object's current handle.
    pub fn handle(&self) -> Handle {
        self.object.handle()
    }

    /// The engine method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Calls another method instead.
    pub fn set_method(&mut self, method: impl Into<String>) {
        self.method = method.into();
    }

    /// The params: a JSON array (by position) or object (by name).
    pub fn params(&self) -> &Value {
        &self.params
    }

    /// The params, to change in place. They must stay an array or an object, or the call
    /// fails with [`Error::InvalidParams`].
    pub fn params_mut(&mut self) -> &mut Value {
        &mut self.params
    }

    /// Whether the call returns an object ([`Object::call_object`]): its outcome is then an
    /// [`Answer::Object`].
    pub fn returns_object(&self) -> bool {
        self.returns_object
    }

    /// 0 for the first sending, then 1, 2, ... for each retry a response interceptor asked for.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

/// What a call answered: a value (the response's `result`), or, for a call that returns an
/// object, the object.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The `result` member of the response.
    Value(Value),
    /// The object a call such as `OpenDoc` or `GetObject` returned, and the whole `result`
    /// (the method's other out-parameters: `qInfo`, `qNewObject`, `qSessionAppId` ...).
    Object {
        /// The object `qReturn` names.
        object: Object,
        /// The `result` member, `qReturn` included.
        result: Value,
    },
}

/// The outcome of a call, as response interceptors see and change it.
pub type Outcome = Result<Answer, Error>;

/// What a response interceptor decides.
#[derive(Debug)]
pub enum Verdict {
    /// Hand this outcome to the next interceptor, or to the caller after the last one.
    Pass(Outcome),
    /// Send the request again (enigma.js I6): it goes through every request interceptor, is
    /// written with a new id, and its outcome goes through the response interceptors from
    /// the first one, this one included. The session sets no bound on retries: the
    /// interceptor that asks decides when to stop (see [`Request::attempt`];
    /// [`RetryAborted`] stops after its count).
    Retry,
}

/// Sees, and may change or refuse, every call before it is written (enigma.js I1).
///
/// Implement it for a type of your own, or wrap a closure with [`request_fn`].
#[async_trait::async_trait]
pub trait RequestInterceptor: Send + Sync + 'static {
    /// Returns the request to send (changed or not), or an error to fail the call with;
    /// nothing is then written, and later interceptors do not run.
    async fn intercept(&self, request: Request) -> Result<Request, Error>;
}

/// Sees, and may change, every outcome with the request that caused it (enigma.js I4, I5).
///
/// Errors come through too, engine errors as well as a socket that closed (I5), so an
/// interceptor can turn one into a value. Implement it for a type of your own, or wrap a
/// closure with [`response_fn`].
#[async_trait::async_trait]
pub trait ResponseInterceptor: Send + Sync + 'static {
    /// Decides what becomes of `outcome`.
    async fn intercept(&self, request: Arc<Request>, outcome: Outcome) -> Verdict;
}

/// A request interceptor made of a closure returning a future.
pub fn request_fn<F, Fut>(f: F) -> impl RequestInterceptor
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request, Error>> + Send + 'static,
{
    RequestFn(f)
}

/// A response interceptor made of a closure returning a future.
pub fn response_fn<F, Fut>(f: F) -> impl ResponseInterceptor
where
    F: Fn(Arc<Request>, Outcome) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    ResponseFn(f)
}

struct RequestFn<F>(F);

#[async_trait::async_trait]
impl<F, Fut> RequestInterceptor for RequestFn<F>
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Request, Error>> + Send + 'static,
{
    async fn intercept(&self, request: Request) -> Result<Request, Error> {
        (self.0)(request).await
    }
}

struct ResponseFn<F>(F);

#[async_trait::async_trait]
impl<F, Fut> ResponseInterceptor for ResponseFn<F>
where
    F: Fn(Arc<Request>, Outcome) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Verdict> + Send + 'static,
{
    async fn intercept(&self, request: Arc<Request>, outcome: Outcome) -> Verdict {
        (self.0)(request, outcome).await
    }
}

/// The interceptors of a session, in the order they run.
#[derive(Default, Clone)]
pub(crate) struct Pipeline {
    requests: Vec<Arc<dyn RequestInterceptor>>,
    responses: Vec<Arc<dyn ResponseInterceptor>>,
}

impl Pipeline {
    pub(crate) fn push_request(&mut self, interceptor: Arc<dyn RequestInterceptor>) {
        self.requests.push(interceptor);
    }

    pub(crate) fn push_response(&mut self, interceptor: Arc<dyn ResponseInterceptor>) {
        self.responses.push(interceptor);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.responses.is_empty()
    }

    /// Runs one call through the pipeline: request interceptors, the send, response
    /// interceptors; again from the top for each retry.
    ///
    /// A retry asked for by interceptor `i` restarts the response chain at the first one, so
    /// interceptors before and at `i` see every attempt and those after `i` only the outcome
    /// the last attempt settled on, once (enigma.js runs them once per attempt: see Q-INT-4).
    pub(crate) async fn run(&self, original: Request) -> Outcome {
        let mut attempt = 0;
        'attempts: loop {
            let mut request = original.clone();
            request.attempt = attempt;
            for interceptor in &self.requests {
                request = interceptor.intercept(request).await?;
            }
            let request = Arc::new(request);
            let mut outcome = crate::object::dispatch(&request).await;
            for interceptor in &self.responses {
                match interceptor.intercept(request.clone(), outcome).await {
                    Verdict::Pass(next) => outcome = next,
                    Verdict::Retry => {
                        attempt = attempt.saturating_add(1);
                        continue 'attempts;
                    }
                }
            }
            return outcome;
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("requests", &self.requests.len())
            .field("responses", &self.responses.len())
            .finish()
    }
}
