//! Remote objects: Global, Docs, generic objects, fields ... as handles a program holds.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use qix_events::{Bus, Delivery, ListenerGuard};
use qix_rpc::{EncodedCall, Handle, RawJson};
use qix_session::{Call, Command, ObjectInfo, ObjectKey};
use serde::de::DeserializeOwned;

use crate::driver::DriverReply;
use crate::event::{object_topic, ObjectEvent};
use crate::intercept::{Answer, Outcome, Pipeline, Request};
use crate::session::{EventStream, Link};
use crate::shared::SharedResult;
use crate::Error;

/// What an object's handles share with the driver: its identity, its current handle, its events.
pub(crate) struct ObjectShared {
    pub(crate) key: ObjectKey,
    id: String,
    object_type: String,
    generic_type: Option<String>,
    handle: AtomicI32,
    closed: AtomicBool,
    pub(crate) bus: Bus<ObjectEvent>,
}

impl ObjectShared {
    pub(crate) fn new(info: ObjectInfo, bus: Bus<ObjectEvent>) -> Self {
        Self {
            key: info.key,
            id: info.id,
            object_type: info.object_type,
            generic_type: info.generic_type,
            handle: AtomicI32::new(info.handle),
            closed: AtomicBool::new(false),
            bus,
        }
    }

    pub(crate) fn set_handle(&self, handle: Handle) {
        self.handle.store(handle, Ordering::Release);
    }

    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::Release);
    }
}

/// A remote object of the engine: Global, a Doc, a generic object, a field ...
///
/// It stays valid across suspend and resume: after a resume restored it, [`handle`](Self::handle)
/// returns its new handle and calls go there. Cheap to clone; clones are the same object.
#[derive(Clone)]
pub struct Object {
    shared: Arc<ObjectShared>,
    link: Link,
    /// The timeout of calls made through this handle; `None` takes the session's.
    timeout: Option<Duration>,
}

impl Object {
    pub(crate) fn new(shared: Arc<ObjectShared>, link: Link) -> Self {
        Self {
            shared,
            link,
            timeout: None,
        }
    }

    /// The same object, with calls through the returned handle failing with
    /// [`Error::Timeout`] when no answer came within `timeout` (Q-TIME-1); the engine is then
    /// sent `CancelRequest`. Other handles keep the session's
    /// [`request_timeout`](crate::SessionBuilder::request_timeout).
    ///
    /// ```
    /// # async fn reload(doc: qix::Object) -> Result<(), qix::Error> {
    /// use std::time::Duration;
    /// doc.with_timeout(Duration::from_secs(600))
    ///     .call("DoReload", serde_json::json!([]))
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_timeout(&self, timeout: Duration) -> Object {
        Object {
            timeout: Some(timeout),
            ..self.clone()
        }
    }

    /// The current handle (`-1` for Global). It changes when a resume restores the object.
    pub fn handle(&self) -> Handle {
        self.shared.handle.load(Ordering::Acquire)
    }

    /// The object's id (`qGenericId`): `Global` for Global, the app id for a Doc.
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// The engine type (`qType`): `Global`, `Doc`, `GenericObject`, `Field`, ...
    pub fn object_type(&self) -> &str {
        &self.shared.object_type
    }

    /// The generic type (`qGenericType`, e.g. `barchart`), when the engine gave one.
    pub fn generic_type(&self) -> Option<&str> {
        self.shared.generic_type.as_deref()
    }

    /// True once the object got `closed`; calls then fail with [`Error::ObjectClosed`].
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Calls an engine method on this object and returns the response's `result` member.
    ///
    /// `params` is a JSON array (by position) or object (by name), as the engine method takes it.
    /// An engine error is [`Error::Engine`] with the engine's code, parameter and message.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the call (Q-CANCEL-1): it leaves the session's table at
    /// once, and if it was written the engine is sent `CancelRequest` so it stops working on
    /// it; a late answer is dropped quietly. Dropped before the session took it, the call is
    /// not made.
    pub async fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        self.call_as(method, params).await
    }

    /// Like [`call`](Self::call), with the `result` deserialized straight into `T`: from the
    /// engine's text, or with delta on from the shared full values (Q-DELTA-3).
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<T, Error> {
        if let Some(pipeline) = self.link.pipeline() {
            let value = self.intercepted(pipeline, method, params).await?;
            return serde_json::from_value(value).map_err(|e| Error::ResultType(Arc::new(e)));
        }
        self.answer(method, EncodedCall::new(method, &params)?)
            .await?
            .deserialize()
    }

    /// Like [`call`](Self::call), with the `result` as the engine's own text. It shares the
    /// bytes of the engine's frame: nothing of the payload is copied.
    ///
    /// The engine's own text means no patches: this call never asks for delta, whatever
    /// [`SessionBuilder::delta`](crate::SessionBuilder::delta) says, and its answer does not
    /// touch the session's delta baselines (Q-DELTA-1).
    pub async fn call_raw(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<RawJson, Error> {
        if let Some(pipeline) = self.link.pipeline() {
            // What the interceptors settled on, written out again: there is no frame to share.
            let value = self.intercepted(pipeline, method, params).await?;
            let text = serde_json::to_string(&value).map_err(|e| Error::ResultType(Arc::new(e)))?;
            return RawJson::new(text).map_err(Error::BadFrame);
        }
        match self
            .send(method, EncodedCall::new(method, &params)?, false, false)
            .await?
        {
            DriverReply::Result(raw) => Ok(raw),
            _ => Err(unexpected()),
        }
    }

    /// Like [`call`](Self::call), with each member of the `result` as a shared
    /// `Arc<serde_json::Value>` ([`SharedResult`]) that nobody changes afterwards.
    ///
    /// With delta on (the default) this is the cheap way to ask again for a large value that
    /// changes little: an unchanged answer (`[]` on the wire) hands out the same `Arc` as the
    /// last time, without copying anything, and a small change costs the patch (Q-DELTA-3).
    /// [`call`](Self::call) and [`call_as`](Self::call_as) build an owned value from it.
    ///
    /// ```no_run
    /// # async fn poll(chart: qix::Object) -> Result<(), qix::Error> {
    /// use std::sync::Arc;
    /// let first = chart.call_shared("GetLayout", serde_json::json!([])).await?;
    /// let again = chart.call_shared("GetLayout", serde_json::json!([])).await?;
    /// if Arc::ptr_eq(&first.get("qLayout").unwrap(), &again.get("qLayout").unwrap()) {
    ///     println!("unchanged, and nothing was copied");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_shared(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<SharedResult, Error> {
        if let Some(pipeline) = self.link.pipeline() {
            let value = self.intercepted(pipeline, method, params).await?;
            return SharedResult::from_value(value);
        }
        match self
            .answer(method, EncodedCall::new(method, &params)?)
            .await?
        {
            Payload::Raw(raw) => SharedResult::parse(raw.get()),
            Payload::Shared(shared) => Ok(shared),
        }
    }

    /// Calls a method whose params are any serializable value (an array or an object): they
    /// are serialized once, in the caller's task, straight into the request, and the result
    /// is deserialized straight into `T`. What a typed API builds on.
    ///
    /// With [interceptors](crate::intercept), the params are first made a `serde_json::Value`
    /// for them to see, and `T` is read from the value they settle on.
    pub async fn call_with<P, T>(&self, method: &str, params: &P) -> Result<T, Error>
    where
        P: serde::Serialize + ?Sized,
        T: DeserializeOwned,
    {
        if let Some(pipeline) = self.link.pipeline() {
            let params = serde_json::to_value(params)
                .map_err(|e| Error::InvalidCall(qix_rpc::MethodError::Serialize(e.to_string())))?;
            let value = self.intercepted(pipeline, method, params).await?;
            return serde_json::from_value(value).map_err(|e| Error::ResultType(Arc::new(e)));
        }
        self.answer(method, EncodedCall::new(method, params)?)
            .await?
            .deserialize()
    }

    /// A call whose answer may be a delta one.
    async fn answer(&self, method: &str, call: EncodedCall) -> Result<Payload, Error> {
        match self.send(method, call, false, true).await? {
            DriverReply::Result(raw) => Ok(Payload::Raw(raw)),
            DriverReply::Shared(shared) => Ok(Payload::Shared(shared)),
            _ => Err(unexpected()),
        }
    }

    /// Calls a method that returns an object (`result.qReturn {qHandle, qType, ...}`, as
    /// `OpenDoc`, `GetObject`, `CreateSessionObject` do) and returns that object.
    ///
    /// A `qHandle: null` answer (the engine's way of saying the object does not exist) is
    /// [`Error::ObjectNotFound`]. The same engine handle always gives the same object.
    pub async fn call_object(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<Object, Error> {
        self.call_object_with_result(method, params)
            .await
            .map(|(object, _)| object)
    }

    /// Like [`call_object`](Self::call_object), with the whole `result` as well, for the
    /// method's other out-parameters: `GetOrCreateObject`'s `qNewObject`, `CreateSessionApp`'s
    /// `qSessionAppId`, `CreateObject`'s `qInfo` ... It shares the bytes of the engine's frame.
    pub async fn call_object_with_result(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<(Object, RawJson), Error> {
        if let Some(pipeline) = self.link.pipeline() {
            let request = Request::new(self.clone(), method, params, true);
            return match pipeline.run(request).await? {
                Answer::Object { object, result } => {
                    // What the interceptors settled on, written out again.
                    let text = serde_json::to_string(&result)
                        .map_err(|e| Error::ResultType(Arc::new(e)))?;
                    Ok((object, RawJson::new(text).map_err(Error::BadFrame)?))
                }
                Answer::Value(_) => Err(Error::BadResponse(format!(
                    "an interceptor answered {method}, which returns an object, with a value"
                ))),
            };
        }
        match self
            .send(method, EncodedCall::new(method, &params)?, true, false)
            .await?
        {
            DriverReply::Object(shared, result) => {
                Ok((Object::new(shared, self.link.clone()), result))
            }
            _ => Err(unexpected()),
        }
    }

    /// A call that returns a value, through the session's interceptors.
    async fn intercepted(
        &self,
        pipeline: &Pipeline,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, Error> {
        let request = Request::new(self.clone(), method, params, false);
        match pipeline.run(request).await? {
            Answer::Value(value) => Ok(value),
            Answer::Object { .. } => Err(Error::BadResponse(format!(
                "an interceptor answered {method} with an object where a value was expected"
            ))),
        }
    }

    async fn send(
        &self,
        method: &str,
        call: EncodedCall,
        returns_object: bool,
        accepts_delta: bool,
    ) -> Result<DriverReply, Error> {
        let command = Command::Call(Call {
            object: self.shared.key,
            call,
            returns_object,
            timeout: self.timeout,
            accepts_delta,
        });
        self.link
            .request(command)
            .await
            .map_err(|error| error.for_method(method))
    }

    /// A stream of this object's events on `topic`: `changed`, `closed`, `traffic:*`,
    /// `traffic:sent`, `traffic:received`. The stream ends after `closed`.
    pub fn subscribe(&self, topic: &str) -> Result<EventStream<ObjectEvent>, Error> {
        let topic = object_topic(topic)?;
        Ok(EventStream::new(self.shared.bus.subscribe(topic)))
    }

    /// Calls `listener` for each of this object's events on `topic`, on a thread of its own (a listener that blocks delays only its own later calls, Q-EV-6),
    /// until the returned guard is dropped.
    pub fn on<F>(&self, topic: &str, listener: F) -> Result<ListenerGuard, Error>
    where
        F: Fn(&ObjectEvent) + Send + 'static,
    {
        let topic = object_topic(topic)?;
        self.shared
            .bus
            .on(topic, move |delivery| match delivery {
                Delivery::Event(event) => listener(&event),
                Delivery::Lagged { missed } => listener(&ObjectEvent::Lagged { missed }),
            })
            .map_err(Error::Listener)
    }
}

/// A call's answer as the driver handed it: the engine's text, or patched shared values.
enum Payload {
    Raw(RawJson),
    Shared(SharedResult),
}

impl Payload {
    fn deserialize<T: DeserializeOwned>(self) -> Result<T, Error> {
        match self {
            Payload::Raw(raw) => {
                serde_json::from_str(raw.get()).map_err(|e| Error::ResultType(Arc::new(e)))
            }
            Payload::Shared(shared) => shared.deserialize(),
        }
    }
}

/// Sends a request as the interceptors left it, with no interceptor: the end of the pipeline.
pub(crate) async fn dispatch(request: &Request) -> Outcome {
    let object = request.object();
    let call = EncodedCall::new(request.method(), request.params())?;
    let returns_object = request.returns_object();
    // With interceptors the answer becomes a `Value` anyway, so a delta answer may as well
    // be taken: its shared values are copied into it.
    let reply = object
        .send(request.method(), call, returns_object, !returns_object)
        .await?;
    match reply {
        DriverReply::Result(raw) => serde_json::from_str(raw.get())
            .map(Answer::Value)
            .map_err(|e| Error::ResultType(Arc::new(e))),
        DriverReply::Shared(shared) => Ok(Answer::Value(shared.to_value())),
        DriverReply::Object(shared, result) => Ok(Answer::Object {
            object: Object::new(shared, object.link.clone()),
            result: serde_json::from_str(result.get())
                .map_err(|e| Error::ResultType(Arc::new(e)))?,
        }),
        _ => Err(unexpected()),
    }
}

fn unexpected() -> Error {
    Error::BadResponse("the session answered a call with a reply of another kind".to_owned())
}

impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("handle", &self.handle())
            .field("id", &self.id())
            .field("type", &self.object_type())
            .field("generic_type", &self.generic_type())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PartialEq for Object {
    /// Two `Object`s are equal when they are the same remote object.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Object {}

impl std::hash::Hash for Object {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.shared).hash(state);
    }
}
