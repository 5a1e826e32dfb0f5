//! The engine model: apps, engine sessions, per-socket handle tables and the methods that act on
//! them. Everything here is synchronous and runs under the engine's one lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use qix_rpc::{Changes, EngineError, Handle, Request, GLOBAL_HANDLE};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

use crate::codes::{
    ALREADY_EXISTS, APP_ALREADY_OPEN, APP_NOT_FOUND, INVALID_PARAMETERS, METHOD_NOT_FOUND,
    NO_ACTIVE_DOC,
};
use crate::config::{MockApp, MockConfig, SessionState};
use crate::connection::Command;

mod listing;

pub(crate) type ConnId = u64;
type SessionId = u64;

/// Engine sessions are keyed by the URL's app and identity.
pub(crate) type SessionKey = (String, Option<String>);

/// The generic classes the mock knows, each with its own `Get*` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Object,
    Dimension,
    Measure,
    Bookmark,
    Variable,
}

impl Kind {
    /// The `qType` of a handle to such an object.
    fn handle_type(self) -> &'static str {
        match self {
            Self::Object => "GenericObject",
            Self::Dimension => "GenericDimension",
            Self::Measure => "GenericMeasure",
            Self::Bookmark => "GenericBookmark",
            Self::Variable => "GenericVariable",
        }
    }

    /// The `qInfo.qType` used when the properties name none.
    fn default_generic_type(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Dimension => "dimension",
            Self::Measure => "measure",
            Self::Bookmark => "bookmark",
            Self::Variable => "variable",
        }
    }
}

/// One stored object; `props.qInfo` always holds its `qId` and `qType`.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    kind: Kind,
    props: Map<String, Value>,
    /// The id of the object this one is a child of (`GetChildInfos`, `qChildList`).
    parent: Option<String>,
}

impl Stored {
    /// Normalises `properties` into a stored object: `qInfo.qId` = `id`, `qInfo.qType` =
    /// `generic_type`, else the one in the properties, else the kind's default.
    pub(crate) fn seeded(
        kind: Kind,
        id: &str,
        generic_type: Option<&str>,
        properties: Value,
    ) -> Self {
        let mut props = match properties {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let qtype = generic_type
            .map(str::to_owned)
            .or_else(|| {
                props
                    .get("qInfo")
                    .and_then(|info| info.get("qType"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| kind.default_generic_type().to_owned());
        let info = props
            .entry("qInfo")
            .or_insert_with(|| Value::Object(Map::new()));
        if !info.is_object() {
            *info = Value::Object(Map::new());
        }
        if let Value::Object(info) = info {
            info.insert("qId".to_owned(), Value::String(id.to_owned()));
            info.insert("qType".to_owned(), Value::String(qtype));
        }
        Self {
            kind,
            props,
            parent: None,
        }
    }

    /// The same object as a child of `parent`.
    pub(crate) fn with_parent(mut self, parent: String) -> Self {
        self.parent = Some(parent);
        self
    }

    fn generic_type(&self) -> &str {
        self.props
            .get("qInfo")
            .and_then(|info| info.get("qType"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What an app stores engine-wide.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppData {
    pub(crate) objects: BTreeMap<String, Stored>,
    pub(crate) fields: BTreeSet<String>,
}

/// What a handle points at, within its socket.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Doc,
    Object { session_scoped: bool, id: String },
    Field(String),
}

/// Which storage an object lives in: two handles refer to the same object when their store and
/// id are equal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StoreRef {
    App(String),
    SessionApp(SessionId),
    SessionObjects(SessionId),
}

#[derive(Debug)]
struct OpenDoc {
    app_id: String,
    /// `Some` for a session app: its storage lives and dies with the engine session.
    session_app: Option<AppData>,
    session_objects: BTreeMap<String, Stored>,
}

#[derive(Debug)]
struct SessionData {
    /// `None` once forgotten: no new socket can attach, live sockets keep working.
    key: Option<SessionKey>,
    sockets: usize,
    ttl: Duration,
    /// Bumped whenever a pending expiry must no longer fire.
    generation: u64,
    doc: Option<OpenDoc>,
    /// Handles are numbered per engine session and never reused, so a socket that reattaches
    /// gets new numbers for the same objects.
    next_handle: Handle,
}

#[derive(Debug)]
struct ConnEntry {
    session: SessionId,
    handles: HashMap<Handle, Target>,
    by_target: HashMap<Target, Handle>,
    commands: UnboundedSender<Command>,
}

/// An expiry to schedule after a socket left its session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiry {
    pub(crate) session: SessionId,
    pub(crate) generation: u64,
    pub(crate) after: Duration,
}

/// The `change` and `close` arrays of the response being built.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) change: Vec<Handle>,
    pub(crate) close: Vec<Handle>,
}

#[derive(Debug)]
pub(crate) struct EngineState {
    apps: HashMap<String, AppData>,
    sessions: HashMap<SessionId, SessionData>,
    keys: HashMap<SessionKey, SessionId>,
    conns: HashMap<ConnId, ConnEntry>,
    next_session: SessionId,
    next_generated: u64,
    default_ttl: Duration,
    max_ttl: Duration,
    open_unknown_apps: bool,
    invalid_handle_code: i32,
    engine_version: String,
    product_version: String,
}

impl EngineState {
    pub(crate) fn new(config: &MockConfig) -> Self {
        Self {
            apps: config
                .apps
                .iter()
                .map(|app| (app.id.clone(), app.data.clone()))
                .collect(),
            sessions: HashMap::new(),
            keys: HashMap::new(),
            conns: HashMap::new(),
            next_session: 1,
            next_generated: 1,
            default_ttl: config.default_ttl,
            max_ttl: config.max_ttl,
            open_unknown_apps: config.open_unknown_apps,
            invalid_handle_code: config.invalid_handle_code,
            engine_version: config.engine_version.clone(),
            product_version: config.product_version.clone(),
        }
    }

    // ---- sessions ------------------------------------------------------------------------

    /// Binds a new socket to the engine session of `key`, creating the session when there is
    /// none. The socket's TTL (its URL's, else the default, capped) becomes the session's.
    pub(crate) fn attach(
        &mut self,
        conn: ConnId,
        key: SessionKey,
        ttl_seconds: Option<u64>,
        commands: UnboundedSender<Command>,
    ) -> SessionState {
        let ttl = ttl_seconds
            .map(Duration::from_secs)
            .unwrap_or(self.default_ttl)
            .min(self.max_ttl);
        let (session, state) = match self.keys.get(&key) {
            Some(&id) => (id, SessionState::Attached),
            None => {
                let id = self.next_session;
                self.next_session += 1;
                self.sessions.insert(
                    id,
                    SessionData {
                        key: Some(key.clone()),
                        sockets: 0,
                        ttl,
                        generation: 0,
                        doc: None,
                        next_handle: 1,
                    },
                );
                self.keys.insert(key, id);
                (id, SessionState::Created)
            }
        };
        if let Some(data) = self.sessions.get_mut(&session) {
            data.sockets += 1;
            data.ttl = ttl;
            data.generation += 1;
        }
        self.conns.insert(
            conn,
            ConnEntry {
                session,
                handles: HashMap::new(),
                by_target: HashMap::new(),
                commands,
            },
        );
        state
    }

    /// Unbinds a socket that ended. Returns the expiry to schedule when its session now has no
    /// socket and a TTL; a session without TTL (or forgotten) is dropped at once.
    pub(crate) fn detach(&mut self, conn: ConnId) -> Option<Expiry> {
        let entry = self.conns.remove(&conn)?;
        let data = self.sessions.get_mut(&entry.session)?;
        data.sockets = data.sockets.saturating_sub(1);
        if data.sockets > 0 {
            return None;
        }
        if data.key.is_none() || data.ttl.is_zero() {
            self.drop_session(entry.session);
            return None;
        }
        data.generation += 1;
        Some(Expiry {
            session: entry.session,
            generation: data.generation,
            after: data.ttl,
        })
    }

    /// Drops a session whose TTL lapsed, unless a socket came back meanwhile.
    pub(crate) fn expire(&mut self, expiry: Expiry) {
        let lapsed = self
            .sessions
            .get(&expiry.session)
            .is_some_and(|data| data.sockets == 0 && data.generation == expiry.generation);
        if lapsed {
            self.drop_session(expiry.session);
        }
    }

    fn drop_session(&mut self, session: SessionId) {
        if let Some(data) = self.sessions.remove(&session) {
            if let Some(key) = data.key {
                if self.keys.get(&key) == Some(&session) {
                    self.keys.remove(&key);
                }
            }
        }
    }

    /// Every session becomes unreachable for new sockets; those without sockets are dropped,
    /// the others live on for their sockets and end with them.
    pub(crate) fn forget_sessions(&mut self) {
        self.keys.clear();
        self.sessions.retain(|_, data| {
            data.key = None;
            data.sockets > 0
        });
    }

    pub(crate) fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub(crate) fn senders(&self) -> Vec<UnboundedSender<Command>> {
        self.conns
            .values()
            .map(|entry| entry.commands.clone())
            .collect()
    }

    // ---- apps ------------------------------------------------------------------------------

    pub(crate) fn insert_app(&mut self, app: MockApp) {
        self.apps.insert(app.id, app.data);
    }

    pub(crate) fn remove_app(&mut self, id: &str) -> bool {
        self.apps.remove(id).is_some()
    }

    /// A persistent object's properties (any kind), from engine-wide app storage.
    pub(crate) fn app_object(&self, app: &str, id: &str) -> Option<Value> {
        let stored = self.apps.get(app)?.objects.get(id)?;
        Some(Value::Object(stored.props.clone()))
    }

    /// The handle this socket holds for the doc (by app id), an object (by qId) or a field.
    pub(crate) fn handle_of(&self, conn: ConnId, id: &str) -> Option<Handle> {
        let entry = self.conns.get(&conn)?;
        let doc_app = self
            .sessions
            .get(&entry.session)
            .and_then(|data| data.doc.as_ref())
            .map(|doc| doc.app_id.as_str());
        let mut found: Vec<(Handle, u8)> = entry
            .handles
            .iter()
            .filter_map(|(&handle, target)| match target {
                Target::Object { id: object, .. } if object == id => Some((handle, 0)),
                Target::Doc if doc_app == Some(id) => Some((handle, 1)),
                Target::Field(name) if name == id => Some((handle, 2)),
                _ => None,
            })
            .collect();
        found.sort_by_key(|&(handle, rank)| (rank, handle));
        found.first().map(|&(handle, _)| handle)
    }

    // ---- requests --------------------------------------------------------------------------

    /// Carries out one request on behalf of socket `conn`.
    pub(crate) fn dispatch(
        &mut self,
        conn: ConnId,
        request: &Request,
        effects: &mut Effects,
    ) -> Result<Value, EngineError> {
        let params = request.params.as_value();
        let method = request.method.as_str();
        if request.handle == GLOBAL_HANDLE {
            return self.global(conn, method, params);
        }
        let target = self
            .conns
            .get(&conn)
            .ok_or_else(internal)?
            .handles
            .get(&request.handle)
            .cloned()
            .ok_or_else(|| self.invalid_handle(request.handle))?;
        match target {
            Target::Doc => self.doc(conn, method, params, effects),
            Target::Object { session_scoped, id } => self.object(
                conn,
                request.handle,
                session_scoped,
                &id,
                method,
                params,
                effects,
            ),
            Target::Field(_) => Err(method_not_found(method)),
        }
    }

    fn global(&mut self, conn: ConnId, method: &str, params: &Value) -> Result<Value, EngineError> {
        match method {
            "EngineVersion" => Ok(json!({"qVersion": {"qComponentVersion": self.engine_version}})),
            "ProductVersion" => Ok(json!({"qReturn": self.product_version})),
            "GetDocList" => Ok(self.doc_list()),
            "OpenDoc" => self.open_doc(conn, params),
            "GetActiveDoc" => self.active_doc(conn),
            "CreateSessionApp" => self.create_session_app(conn),
            _ => Err(method_not_found(method)),
        }
    }

    fn open_doc(&mut self, conn: ConnId, params: &Value) -> Result<Value, EngineError> {
        let name = string_param(params, 0, "qDocName")?;
        let session = self.session_of(conn)?;
        let data = self.sessions.get_mut(&session).ok_or_else(internal)?;
        match &data.doc {
            Some(doc) if doc.app_id == name => {}
            Some(_) => {
                return Err(engine_error(APP_ALREADY_OPEN, &name, "App already open"));
            }
            None => {
                if !self.apps.contains_key(&name) {
                    if !self.open_unknown_apps {
                        return Err(engine_error(APP_NOT_FOUND, &name, "App not found"));
                    }
                    self.apps.insert(name.clone(), AppData::default());
                }
                data.doc = Some(OpenDoc {
                    app_id: name.clone(),
                    session_app: None,
                    session_objects: BTreeMap::new(),
                });
            }
        }
        let handle = self.handle_for(conn, Target::Doc)?;
        Ok(json!({"qReturn": doc_ref(handle, &name)}))
    }

    fn active_doc(&mut self, conn: ConnId) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let app_id = self
            .sessions
            .get(&session)
            .and_then(|data| data.doc.as_ref())
            .map(|doc| doc.app_id.clone())
            .ok_or_else(|| engine_error(NO_ACTIVE_DOC, "", "App invalid"))?;
        let handle = self.handle_for(conn, Target::Doc)?;
        Ok(json!({"qReturn": doc_ref(handle, &app_id)}))
    }

    fn create_session_app(&mut self, conn: ConnId) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let app_id = format!("SessionApp_{}", self.generate_number());
        let data = self.sessions.get_mut(&session).ok_or_else(internal)?;
        if let Some(doc) = &data.doc {
            return Err(engine_error(
                APP_ALREADY_OPEN,
                &doc.app_id,
                "App already open",
            ));
        }
        data.doc = Some(OpenDoc {
            app_id: app_id.clone(),
            session_app: Some(AppData::default()),
            session_objects: BTreeMap::new(),
        });
        let handle = self.handle_for(conn, Target::Doc)?;
        Ok(json!({"qReturn": doc_ref(handle, &app_id), "qSessionAppId": app_id}))
    }

    fn doc(
        &mut self,
        conn: ConnId,
        method: &str,
        params: &Value,
        effects: &mut Effects,
    ) -> Result<Value, EngineError> {
        use Kind::*;
        match method {
            "CreateObject" => self.create(conn, params, Object, false),
            "CreateSessionObject" => self.create(conn, params, Object, true),
            "CreateDimension" => self.create(conn, params, Dimension, false),
            "CreateMeasure" => self.create(conn, params, Measure, false),
            "CreateBookmark" => self.create(conn, params, Bookmark, false),
            "CreateVariableEx" => self.create(conn, params, Variable, false),
            "GetObject" => self.get(conn, params, Object),
            "GetDimension" => self.get(conn, params, Dimension),
            "GetMeasure" => self.get(conn, params, Measure),
            "GetBookmark" => self.get(conn, params, Bookmark),
            "GetVariableById" => self.get(conn, params, Variable),
            "GetField" => self.get_field(conn, params),
            "GetAppLayout" => self.app_layout(conn),
            "GetAllInfos" => self.all_infos(conn),
            "GetObjects" => self.objects(conn, params),
            "DestroySessionObject" => self.destroy(conn, params, Object, true, effects),
            "DestroyObject" => self.destroy(conn, params, Object, false, effects),
            "DestroyDimension" => self.destroy(conn, params, Dimension, false, effects),
            "DestroyMeasure" => self.destroy(conn, params, Measure, false, effects),
            "DestroyBookmark" => self.destroy(conn, params, Bookmark, false, effects),
            "DestroyVariableById" => self.destroy(conn, params, Variable, false, effects),
            _ => Err(method_not_found(method)),
        }
    }

    fn create(
        &mut self,
        conn: ConnId,
        params: &Value,
        kind: Kind,
        session_scoped: bool,
    ) -> Result<Value, EngineError> {
        let props = match param(params, 0, "qProp") {
            Some(Value::Object(props)) => props.clone(),
            _ => return Err(invalid_param("qProp")),
        };
        let info = props.get("qInfo");
        let generic_type = match info.and_then(|info| info.get("qType")) {
            Some(Value::String(qtype)) if !qtype.is_empty() => qtype.clone(),
            None if kind != Kind::Object => kind.default_generic_type().to_owned(),
            _ => return Err(invalid_param("qProp.qInfo.qType")),
        };
        let requested = info
            .and_then(|info| info.get("qId"))
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned);
        let session = self.session_of(conn)?;
        let id = match requested {
            Some(id) => id,
            None => loop {
                let candidate = format!("mock-{}", self.generate_number());
                if !self.id_taken(session, &candidate) {
                    break candidate;
                }
            },
        };
        if self.id_taken(session, &id) {
            return Err(engine_error(ALREADY_EXISTS, &id, "Resource already exists"));
        }
        let stored = Stored::seeded(kind, &id, Some(&generic_type), Value::Object(props));
        self.store_mut(session, session_scoped)?
            .insert(id.clone(), stored);
        let handle = self.handle_for(
            conn,
            Target::Object {
                session_scoped,
                id: id.clone(),
            },
        )?;
        let reference = object_ref(kind, handle, &generic_type, &id);
        if session_scoped {
            return Ok(json!({"qReturn": reference}));
        }
        // The Create* methods of persistent objects also answer the new object's qInfo.
        Ok(json!({"qInfo": {"qId": id, "qType": generic_type}, "qReturn": reference}))
    }

    fn id_taken(&self, session: SessionId, id: &str) -> bool {
        [true, false].into_iter().any(|scoped| {
            self.store(session, scoped)
                .is_some_and(|store| store.contains_key(id))
        })
    }

    fn get(&mut self, conn: ConnId, params: &Value, kind: Kind) -> Result<Value, EngineError> {
        let id = string_param(params, 0, "qId")?;
        let session = self.session_of(conn)?;
        let scopes: &[bool] = if kind == Kind::Object {
            &[true, false]
        } else {
            &[false]
        };
        let found = scopes.iter().find_map(|&scoped| {
            let stored = self.store(session, scoped)?.get(&id)?;
            (stored.kind == kind).then(|| (scoped, stored.generic_type().to_owned()))
        });
        let Some((session_scoped, generic_type)) = found else {
            return Ok(null_ref());
        };
        let handle = self.handle_for(
            conn,
            Target::Object {
                session_scoped,
                id: id.clone(),
            },
        )?;
        Ok(json!({"qReturn": object_ref(kind, handle, &generic_type, &id)}))
    }

    fn get_field(&mut self, conn: ConnId, params: &Value) -> Result<Value, EngineError> {
        let name = string_param(params, 0, "qFieldName")?;
        let session = self.session_of(conn)?;
        let known = self
            .app_data(session)
            .is_some_and(|app| app.fields.contains(&name));
        if !known {
            return Ok(null_ref());
        }
        let handle = self.handle_for(conn, Target::Field(name))?;
        Ok(json!({"qReturn": {"qType": "Field", "qHandle": handle}}))
    }

    fn destroy(
        &mut self,
        conn: ConnId,
        params: &Value,
        kind: Kind,
        session_scoped: bool,
        effects: &mut Effects,
    ) -> Result<Value, EngineError> {
        let id = string_param(params, 0, "qId")?;
        let session = self.session_of(conn)?;
        let store_ref = self
            .store_ref(session, session_scoped)
            .ok_or_else(internal)?;
        let store = self.store_mut(session, session_scoped)?;
        let removed = match store.get(&id) {
            Some(stored) if stored.kind == kind => store.remove(&id).is_some(),
            _ => false,
        };
        if removed {
            let target = Target::Object { session_scoped, id };
            self.announce(conn, &store_ref, &target, true, effects);
        }
        Ok(json!({"qSuccess": removed}))
    }

    #[allow(clippy::too_many_arguments)]
    fn object(
        &mut self,
        conn: ConnId,
        handle: Handle,
        session_scoped: bool,
        id: &str,
        method: &str,
        params: &Value,
        effects: &mut Effects,
    ) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let stored = self
            .store(session, session_scoped)
            .and_then(|store| store.get(id))
            .ok_or_else(|| self.invalid_handle(handle))?;
        match method {
            "GetLayout" => Ok(json!({"qLayout": self.layout(session, id, stored)})),
            "GetChildInfos" => Ok(self.child_infos(session, id)),
            "GetChild" => self.child(conn, session, id, params),
            "GetProperties" => Ok(json!({"qProp": stored.props})),
            "GetInfo" => Ok(json!({"qInfo": stored.props.get("qInfo")})),
            "SetProperties" => {
                let props = match param(params, 0, "qProp") {
                    Some(Value::Object(props)) => props.clone(),
                    _ => return Err(invalid_param("qProp")),
                };
                let generic_type = match props.get("qInfo").and_then(|info| info.get("qType")) {
                    Some(Value::String(qtype)) if !qtype.is_empty() => qtype.clone(),
                    _ => stored.generic_type().to_owned(),
                };
                let mut updated =
                    Stored::seeded(stored.kind, id, Some(&generic_type), Value::Object(props));
                updated.parent = stored.parent.clone();
                let store_ref = self
                    .store_ref(session, session_scoped)
                    .ok_or_else(internal)?;
                self.store_mut(session, session_scoped)?
                    .insert(id.to_owned(), updated);
                let target = Target::Object {
                    session_scoped,
                    id: id.to_owned(),
                };
                self.announce(conn, &store_ref, &target, false, effects);
                Ok(json!({}))
            }
            _ => Err(method_not_found(method)),
        }
    }

    /// Reports a changed (or closed) object to every socket holding a handle on it: this
    /// socket through the response's arrays, the others through a pushed change/close message.
    /// Closed handles leave the tables.
    fn announce(
        &mut self,
        conn: ConnId,
        store_ref: &StoreRef,
        target: &Target,
        close: bool,
        effects: &mut Effects,
    ) {
        let Target::Object { session_scoped, .. } = target else {
            return;
        };
        let sessions: Vec<SessionId> = self
            .sessions
            .keys()
            .copied()
            .filter(|&session| self.store_ref(session, *session_scoped).as_ref() == Some(store_ref))
            .collect();
        for (&other, entry) in &mut self.conns {
            if !sessions.contains(&entry.session) {
                continue;
            }
            let Some(&handle) = entry.by_target.get(target) else {
                continue;
            };
            if close {
                entry.by_target.remove(target);
                entry.handles.remove(&handle);
            }
            if other == conn {
                if close {
                    effects.close.push(handle);
                } else {
                    effects.change.push(handle);
                }
            } else {
                let mut changes = Changes::default();
                if close {
                    changes.close.push(handle);
                } else {
                    changes.change.push(handle);
                }
                let frame = Message::Text(changes.encode().into());
                // A socket that just ended has dropped its receiver; nothing to tell it.
                let _ = entry.commands.send(Command::Frame(frame, None));
            }
        }
    }

    // ---- helpers ---------------------------------------------------------------------------

    fn session_of(&self, conn: ConnId) -> Result<SessionId, EngineError> {
        self.conns
            .get(&conn)
            .map(|entry| entry.session)
            .ok_or_else(internal)
    }

    fn handle_for(&mut self, conn: ConnId, target: Target) -> Result<Handle, EngineError> {
        let entry = self.conns.get_mut(&conn).ok_or_else(internal)?;
        if let Some(&handle) = entry.by_target.get(&target) {
            return Ok(handle);
        }
        let data = self.sessions.get_mut(&entry.session).ok_or_else(internal)?;
        let handle = data.next_handle;
        data.next_handle = handle.checked_add(1).unwrap_or(1);
        entry.handles.insert(handle, target.clone());
        entry.by_target.insert(target, handle);
        Ok(handle)
    }

    fn generate_number(&mut self) -> u64 {
        let number = self.next_generated;
        self.next_generated += 1;
        number
    }

    fn open_doc_of(&self, session: SessionId) -> Option<&OpenDoc> {
        self.sessions.get(&session)?.doc.as_ref()
    }

    fn app_data(&self, session: SessionId) -> Option<&AppData> {
        let doc = self.open_doc_of(session)?;
        match &doc.session_app {
            Some(app) => Some(app),
            None => self.apps.get(&doc.app_id),
        }
    }

    fn store_ref(&self, session: SessionId, session_scoped: bool) -> Option<StoreRef> {
        let doc = self.open_doc_of(session)?;
        Some(if session_scoped {
            StoreRef::SessionObjects(session)
        } else if doc.session_app.is_some() {
            StoreRef::SessionApp(session)
        } else {
            StoreRef::App(doc.app_id.clone())
        })
    }

    fn store(&self, session: SessionId, session_scoped: bool) -> Option<&BTreeMap<String, Stored>> {
        let doc = self.open_doc_of(session)?;
        if session_scoped {
            return Some(&doc.session_objects);
        }
        self.app_data(session).map(|app| &app.objects)
    }

    fn store_mut(
        &mut self,
        session: SessionId,
        session_scoped: bool,
    ) -> Result<&mut BTreeMap<String, Stored>, EngineError> {
        let doc = self
            .sessions
            .get_mut(&session)
            .and_then(|data| data.doc.as_mut())
            .ok_or_else(internal)?;
        if session_scoped {
            return Ok(&mut doc.session_objects);
        }
        match doc.session_app.as_mut() {
            Some(app) => Ok(&mut app.objects),
            None => self
                .apps
                .get_mut(&doc.app_id)
                .map(|app| &mut app.objects)
                .ok_or_else(|| engine_error(APP_NOT_FOUND, &doc.app_id, "App not found")),
        }
    }

    fn invalid_handle(&self, handle: Handle) -> EngineError {
        EngineError {
            code: self.invalid_handle_code,
            parameter: "Invalid handle".to_owned(),
            message: format!("Invalid method parameter(s): no object with handle {handle}"),
        }
    }
}

/// A parameter by position (array params) or by name (object params).
fn param<'a>(params: &'a Value, index: usize, name: &str) -> Option<&'a Value> {
    match params {
        Value::Array(items) => items.get(index),
        Value::Object(members) => members.get(name),
        _ => None,
    }
}

fn string_param(params: &Value, index: usize, name: &str) -> Result<String, EngineError> {
    match param(params, index, name) {
        Some(Value::String(text)) => Ok(text.clone()),
        _ => Err(invalid_param(name)),
    }
}

fn doc_ref(handle: Handle, app_id: &str) -> Value {
    json!({"qType": "Doc", "qHandle": handle, "qGenericId": app_id})
}

fn object_ref(kind: Kind, handle: Handle, generic_type: &str, id: &str) -> Value {
    json!({
        "qType": kind.handle_type(),
        "qHandle": handle,
        "qGenericType": generic_type,
        "qGenericId": id,
    })
}

/// The engine's answer for a missing object: not an error, a `qReturn` with null members.
fn null_ref() -> Value {
    json!({"qReturn": {"qHandle": null, "qType": null}})
}

pub(crate) fn engine_error(code: i32, parameter: &str, message: &str) -> EngineError {
    EngineError {
        code,
        parameter: parameter.to_owned(),
        message: message.to_owned(),
    }
}

pub(crate) fn method_not_found(method: &str) -> EngineError {
    engine_error(METHOD_NOT_FOUND, method, "Method does not exist")
}

fn invalid_param(name: &str) -> EngineError {
    engine_error(INVALID_PARAMETERS, name, "Invalid method parameter(s)")
}

fn internal() -> EngineError {
    engine_error(-32603, "", "Internal JSON-RPC error")
}
