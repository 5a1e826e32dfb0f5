use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::state::{AppData, Kind, Stored};

/// The `qSessionState` of an `OnConnected` notification, as the engine's `SessionState` enum
/// names it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionState {
    /// `SESSION_CREATED`: a fresh engine session.
    Created,
    /// `SESSION_ATTACHED`: the socket joined an engine session that was still alive.
    Attached,
    /// `SESSION_ERROR_NO_LICENSE`.
    ErrorNoLicense,
    /// `SESSION_ERROR_LICENSE_RENEW`.
    ErrorLicenseRenew,
    /// `SESSION_ERROR_LIMIT_EXCEEDED`.
    ErrorLimitExceeded,
    /// `SESSION_ERROR_SECURITY_HEADER_CHANGED`.
    ErrorSecurityHeaderChanged,
    /// `SESSION_ACCESS_CONTROL_SETUP_FAILURE`.
    AccessControlSetupFailure,
    /// `SESSION_ERROR_APP_ACCESS_DENIED`.
    ErrorAppAccessDenied,
    /// `SESSION_ERROR_APP_FAILURE`.
    ErrorAppFailure,
    /// `SESSION_ERROR_LICENSE_INVALID`.
    ErrorLicenseInvalid,
    /// Any other string, sent as given (to test how a client copes with unknown states).
    Other(String),
}

impl SessionState {
    /// The wire name, e.g. `"SESSION_CREATED"`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "SESSION_CREATED",
            Self::Attached => "SESSION_ATTACHED",
            Self::ErrorNoLicense => "SESSION_ERROR_NO_LICENSE",
            Self::ErrorLicenseRenew => "SESSION_ERROR_LICENSE_RENEW",
            Self::ErrorLimitExceeded => "SESSION_ERROR_LIMIT_EXCEEDED",
            Self::ErrorSecurityHeaderChanged => "SESSION_ERROR_SECURITY_HEADER_CHANGED",
            Self::AccessControlSetupFailure => "SESSION_ACCESS_CONTROL_SETUP_FAILURE",
            Self::ErrorAppAccessDenied => "SESSION_ERROR_APP_ACCESS_DENIED",
            Self::ErrorAppFailure => "SESSION_ERROR_APP_FAILURE",
            Self::ErrorLicenseInvalid => "SESSION_ERROR_LICENSE_INVALID",
            Self::Other(name) => name,
        }
    }

    /// True for every state but `Created` and `Attached`: clients treat those as a failed connect.
    pub fn is_error(&self) -> bool {
        !matches!(self, Self::Created | Self::Attached)
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the engine greets a new socket with the `OnConnected` notification.
///
/// The mode in force when a socket's handshake completes applies to that socket; change it
/// with [`MockConfig::on_connected`] or, while the engine runs, with
/// [`MockEngine::set_on_connected`](crate::MockEngine::set_on_connected).
///
/// While a delayed `OnConnected` is pending, requests are processed but their answers wait
/// behind it, so `OnConnected` is always the first frame on the socket. In every mode the
/// engine session is created or attached as usual; only the notification differs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnConnected {
    /// Send `SESSION_CREATED` or `SESSION_ATTACHED` (whichever happened) as the first frame.
    /// The default.
    #[default]
    Send,
    /// The same, but only after this long.
    Delay(Duration),
    /// Never send it (a client then falls back on its own timeout).
    Omit,
    /// Send this state instead of the real one, at once (e.g.
    /// [`SessionState::ErrorLimitExceeded`]). The socket stays open: close it with
    /// [`MockConnection::close`](crate::MockConnection::close) if the test wants that.
    State(SessionState),
    /// Send this state instead of the real one, after this long.
    DelayedState(Duration, SessionState),
}

/// A seeded app: engine-wide storage for persistent objects, dimensions, measures, bookmarks,
/// variables and field names.
///
/// Properties given here become the object's properties; their `qInfo` is set to
/// `{"qId": <id>, "qType": <type>}` (a `qInfo.qType` already in the properties wins for
/// dimensions, measures, bookmarks and variables). Properties that are not a JSON object are
/// replaced by an empty object. Adding an id twice keeps the last.
///
/// ```
/// use qix_mock::MockApp;
/// use serde_json::json;
///
/// let app = MockApp::new("Sales.qvf")
///     .object("sheet-1", "sheet", json!({"title": "Overview"}))
///     .dimension("dim-country", json!({"qDim": {"qFieldDefs": ["Country"]}}))
///     .measure("m-total", json!({"qMeasure": {"qDef": "Sum(Amount)"}}))
///     .bookmark("bm-1", json!({"qMetaDef": {"title": "Q1"}}))
///     .variable("v-year", json!({"qName": "vYear", "qDefinition": "2024"}))
///     .field("Country");
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct MockApp {
    pub(crate) id: String,
    pub(crate) data: AppData,
}

impl MockApp {
    /// An empty app with this id (what `OpenDoc` names and the URL's `/app/<id>` carries).
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            data: AppData::default(),
        }
    }

    /// A persistent generic object (found by `GetObject`), with `qInfo.qType` = `generic_type`.
    pub fn object(
        mut self,
        id: impl Into<String>,
        generic_type: impl Into<String>,
        properties: Value,
    ) -> Self {
        let id = id.into();
        let generic_type = generic_type.into();
        let stored = Stored::seeded(Kind::Object, &id, Some(&generic_type), properties);
        self.data.objects.insert(id, stored);
        self
    }

    /// A persistent generic object that is a child of `parent` (as a sheet's charts are):
    /// listed by the parent's `GetChildInfos`, reached with its `GetChild`, and in the
    /// `qChildList` of its layout when its properties have a `qChildListDef`.
    pub fn child(
        mut self,
        parent: impl Into<String>,
        id: impl Into<String>,
        generic_type: impl Into<String>,
        properties: Value,
    ) -> Self {
        let id = id.into();
        let generic_type = generic_type.into();
        let stored = Stored::seeded(Kind::Object, &id, Some(&generic_type), properties)
            .with_parent(parent.into());
        self.data.objects.insert(id, stored);
        self
    }

    /// A dimension (found by `GetDimension`; `qInfo.qType` defaults to `"dimension"`).
    pub fn dimension(self, id: impl Into<String>, properties: Value) -> Self {
        self.seed(Kind::Dimension, id.into(), properties)
    }

    /// A measure (found by `GetMeasure`; `qInfo.qType` defaults to `"measure"`).
    pub fn measure(self, id: impl Into<String>, properties: Value) -> Self {
        self.seed(Kind::Measure, id.into(), properties)
    }

    /// A bookmark (found by `GetBookmark`; `qInfo.qType` defaults to `"bookmark"`).
    pub fn bookmark(self, id: impl Into<String>, properties: Value) -> Self {
        self.seed(Kind::Bookmark, id.into(), properties)
    }

    /// A variable (found by `GetVariableById`; `qInfo.qType` defaults to `"variable"`).
    pub fn variable(self, id: impl Into<String>, properties: Value) -> Self {
        self.seed(Kind::Variable, id.into(), properties)
    }

    /// A field name that `GetField` finds (other names answer a null `qReturn`).
    pub fn field(mut self, name: impl Into<String>) -> Self {
        self.data.fields.insert(name.into());
        self
    }

    /// The app's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seed(mut self, kind: Kind, id: String, properties: Value) -> Self {
        let stored = Stored::seeded(kind, &id, None, properties);
        self.data.objects.insert(id, stored);
        self
    }
}

/// How a [`MockEngine`](crate::MockEngine) starts. Build it with chained setters from
/// [`MockConfig::new`] (the same as `Default`); each setter says its default.
///
/// ```
/// use std::time::Duration;
/// use qix_mock::{MockApp, MockConfig, OnConnected};
///
/// let config = MockConfig::new()
///     .required_header("Authorization", "Bearer secret")
///     .default_ttl(Duration::from_secs(30))
///     .on_connected(OnConnected::Delay(Duration::from_millis(100)))
///     .app(MockApp::new("Sales.qvf").field("Country"));
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub(crate) bind: SocketAddr,
    pub(crate) on_connected: OnConnected,
    pub(crate) required_header: Option<(String, String)>,
    pub(crate) default_ttl: Duration,
    pub(crate) max_ttl: Duration,
    pub(crate) apps: Vec<MockApp>,
    pub(crate) open_unknown_apps: bool,
    pub(crate) record: bool,
    pub(crate) max_message_size: usize,
    pub(crate) invalid_handle_code: i32,
    pub(crate) engine_version: String,
    pub(crate) product_version: String,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            on_connected: OnConnected::Send,
            required_header: None,
            default_ttl: Duration::ZERO,
            max_ttl: Duration::from_secs(1800),
            apps: Vec::new(),
            open_unknown_apps: true,
            record: true,
            max_message_size: 64 << 20,
            invalid_handle_code: -32602,
            engine_version: "12.2528.0".to_owned(),
            product_version: "12.2528.0 (qix-mock)".to_owned(),
        }
    }
}

impl MockConfig {
    /// The defaults, as listed on each setter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The address to listen on. Default `127.0.0.1:0` (a free port; read it back with
    /// [`MockEngine::addr`](crate::MockEngine::addr)).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The `OnConnected` mode for new sockets. Default [`OnConnected::Send`].
    pub fn on_connected(mut self, mode: OnConnected) -> Self {
        self.on_connected = mode;
        self
    }

    /// Every upgrade request must carry this header with exactly this value (the name is
    /// case-insensitive); otherwise the handshake is answered with HTTP 401. Default: none.
    pub fn required_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.required_header = Some((name.into(), value.into()));
        self
    }

    /// How long an engine session outlives its last socket when the URL has no `/ttl/<s>`
    /// (the engine's `SessionTTL`). Default zero: dropped as soon as its last socket closes.
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The cap on every TTL, from the URL or the default (the engine's `MaxSessionTTL`).
    /// Default 1800 s.
    pub fn max_ttl(mut self, max: Duration) -> Self {
        self.max_ttl = max;
        self
    }

    /// Seeds an app (replacing an earlier one with the same id).
    pub fn app(mut self, app: MockApp) -> Self {
        self.apps.retain(|known| known.id != app.id);
        self.apps.push(app);
        self
    }

    /// Whether `OpenDoc` of an app that was never seeded creates it empty (`true`, the default)
    /// or fails with error 1003 "App not found" (`false`).
    pub fn open_unknown_apps(mut self, open: bool) -> Self {
        self.open_unknown_apps = open;
        self
    }

    /// Whether accepted sockets are queued for
    /// [`MockEngine::next_connection`](crate::MockEngine::next_connection) and their requests
    /// logged for [`MockConnection::requests`](crate::MockConnection::requests). Default `true`.
    /// A long-running server (the binary) turns it off so memory does not grow with traffic;
    /// then `next_connection` never returns and the request log stays empty.
    pub fn record(mut self, record: bool) -> Self {
        self.record = record;
        self
    }

    /// The largest message (and frame) accepted from a client, in bytes; a bigger one ends the
    /// socket. Default 64 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The error code answered for a request on a handle that this socket never received or
    /// that was closed. Default -32602 (`LOCERR_JSON_RPC_INVALID_PARAMETERS`, with parameter
    /// `"Invalid handle"`); the real engine's code is not documented.
    pub fn invalid_handle_code(mut self, code: i32) -> Self {
        self.invalid_handle_code = code;
        self
    }

    /// What `EngineVersion` answers in `qVersion.qComponentVersion`. Default `"12.2528.0"`.
    pub fn engine_version(mut self, version: impl Into<String>) -> Self {
        self.engine_version = version.into();
        self
    }

    /// What `ProductVersion` answers in `qReturn`. Default `"12.2528.0 (qix-mock)"`.
    pub fn product_version(mut self, version: impl Into<String>) -> Self {
        self.product_version = version.into();
        self
    }
}
