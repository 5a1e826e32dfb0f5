//! The answers that list and describe: the doc list, the app layout, object infos and
//! entries, children, and layouts shaped like the engine's (the `*Def` members computed into
//! their layout members).

use serde_json::{json, Map, Value};

use super::{internal, object_ref, param, ConnId, EngineError, EngineState, SessionId, Stored};

impl EngineState {
    /// `GetDocList`: every app the engine stores, as `DocListEntry`s.
    pub(super) fn doc_list(&self) -> Value {
        let mut ids: Vec<&String> = self.apps.keys().collect();
        ids.sort();
        let list: Vec<Value> = ids
            .into_iter()
            .map(|id| {
                json!({
                    "qDocName": id,
                    "qDocId": id,
                    "qTitle": id,
                    "qConnectedUsers": 0,
                    "qFileTime": 0,
                    "qFileSize": 0,
                    "qLastReloadTime": "",
                    "qReadOnly": false,
                    "qMeta": {},
                    "qThumbnail": {"qUrl": ""},
                    "qHasSectionAccess": false,
                    "qIsDirectQueryMode": false,
                    "qUsage": "ANALYTICS",
                })
            })
            .collect();
        json!({ "qDocList": list })
    }

    /// `GetAppLayout`: the open doc's `NxAppLayout`.
    pub(super) fn app_layout(&self, conn: ConnId) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let doc = self.open_doc_of(session).ok_or_else(internal)?;
        Ok(json!({"qLayout": {
            "qTitle": doc.app_id,
            "qFileName": doc.app_id,
            "qLastReloadTime": "",
            "qModified": false,
            "qHasScript": false,
            "qStateNames": [],
            "qMeta": {},
            "qLocaleInfo": {
                "qDecimalSep": ".",
                "qThousandSep": ",",
                "qListSep": ",",
                "qMoneyDecimalSep": ".",
                "qMoneyThousandSep": ",",
                "qCurrentYear": 2025,
                "qMoneyFmt": "$#,##0.00;-$#,##0.00",
                "qTimeFmt": "h:mm:ss TT",
                "qDateFmt": "M/D/YYYY",
                "qTimestampFmt": "M/D/YYYY h:mm:ss[.fff] TT",
                "qFirstWeekDay": 6,
                "qBrokenWeeks": true,
                "qReferenceDay": 0,
                "qFirstMonthOfYear": 1,
                "qCollation": "en-US",
                "qNumericalAbbreviation": "3:k;6:M;9:G;12:T",
            },
            "qHasData": true,
            "qReadOnly": false,
            "qIsOpenedWithoutData": false,
            "qIsSessionApp": doc.session_app.is_some(),
            "qThumbnail": {"qUrl": ""},
            "qUsage": "ANALYTICS",
        }}))
    }

    /// `GetAllInfos`: the `qInfo` of every object of the open doc, session objects included.
    pub(super) fn all_infos(&self, conn: ConnId) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let infos: Vec<Value> = self
            .stored_objects(session, true)
            .map(|(_, stored)| info_of(stored))
            .collect();
        Ok(json!({ "qInfos": infos }))
    }

    /// `GetObjects(qOptions)`: `NxContainerEntry`s of the generic objects whose type is in
    /// `qTypes` (all when it is absent or empty), with `qData` paths read from their properties.
    pub(super) fn objects(&self, conn: ConnId, params: &Value) -> Result<Value, EngineError> {
        let session = self.session_of(conn)?;
        let options = param(params, 0, "qOptions").cloned().unwrap_or_default();
        let types: Vec<&str> = options
            .get("qTypes")
            .and_then(Value::as_array)
            .map(|types| types.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let with_session = options
            .get("qIncludeSessionObjects")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let data = options.get("qData");
        let list: Vec<Value> = self
            .stored_objects(session, with_session)
            .filter(|(_, stored)| stored.kind == super::Kind::Object)
            .filter(|(_, stored)| types.is_empty() || types.contains(&stored.generic_type()))
            .map(|(_, stored)| {
                json!({
                    "qInfo": info_of(stored),
                    "qMeta": meta_of(stored),
                    "qData": resolve(data, stored),
                })
            })
            .collect();
        Ok(json!({ "qList": list }))
    }

    /// `GetChildInfos`: the `qInfo` of the object's children.
    pub(super) fn child_infos(&self, session: SessionId, id: &str) -> Value {
        let infos: Vec<Value> = self
            .children(session, id)
            .map(|(_, stored)| info_of(stored))
            .collect();
        json!({ "qInfos": infos })
    }

    /// `GetChild(qId)`: a handle on a child of the object, or the engine's null `qReturn`.
    pub(super) fn child(
        &mut self,
        conn: ConnId,
        session: SessionId,
        parent: &str,
        params: &Value,
    ) -> Result<Value, EngineError> {
        let id = super::string_param(params, 0, "qId")?;
        let found = self
            .children(session, parent)
            .find(|(child, _)| **child == id)
            .map(|(_, stored)| stored.generic_type().to_owned());
        let Some(generic_type) = found else {
            return Ok(super::null_ref());
        };
        let target = super::Target::Object {
            session_scoped: false,
            id: id.clone(),
        };
        let handle = self.handle_for(conn, target)?;
        Ok(json!({"qReturn": object_ref(super::Kind::Object, handle, &generic_type, &id)}))
    }

    /// `GetLayout`: the properties with `qMetaDef` turned into `qMeta`, `qChildListDef` into
    /// `qChildList`, and the `qSelectionInfo` every layout has.
    pub(super) fn layout(&self, session: SessionId, id: &str, stored: &Stored) -> Value {
        let mut layout = stored.props.clone();
        layout.remove("qMetaDef");
        layout.insert("qMeta".to_owned(), meta_of(stored));
        layout.insert("qSelectionInfo".to_owned(), json!({}));
        if let Some(def) = layout.remove("qChildListDef") {
            let items: Vec<Value> = self
                .children(session, id)
                .map(|(_, child)| {
                    json!({"qInfo": info_of(child), "qData": resolve(def.get("qData"), child)})
                })
                .collect();
            layout.insert("qChildList".to_owned(), json!({ "qItems": items }));
        }
        Value::Object(layout)
    }

    /// The persistent objects of the open doc (any kind), then its session objects.
    fn stored_objects(
        &self,
        session: SessionId,
        with_session: bool,
    ) -> impl Iterator<Item = (&String, &Stored)> {
        let persistent = self.store(session, false).into_iter().flatten();
        let scoped = self
            .store(session, true)
            .filter(|_| with_session)
            .into_iter()
            .flatten();
        persistent.chain(scoped)
    }

    fn children<'a>(
        &'a self,
        session: SessionId,
        parent: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Stored)> + 'a {
        self.stored_objects(session, false)
            .filter(move |(_, stored)| stored.parent.as_deref() == Some(parent))
    }
}

fn info_of(stored: &Stored) -> Value {
    stored.props.get("qInfo").cloned().unwrap_or_default()
}

/// The engine shows an object's `qMetaDef` members in `qMeta`.
fn meta_of(stored: &Stored) -> Value {
    match stored.props.get("qMetaDef") {
        Some(Value::Object(def)) => Value::Object(def.clone()),
        _ => Value::Object(Map::new()),
    }
}

/// A `qData` definition filled in: a string starting with `/` is a path into the object's
/// properties (the engine's form for reading a property); anything else is kept as given.
fn resolve(data: Option<&Value>, stored: &Stored) -> Value {
    let Some(Value::Object(def)) = data else {
        return Value::Object(Map::new());
    };
    let props = Value::Object(stored.props.clone());
    let filled = def
        .iter()
        .map(|(name, value)| {
            let value = match value.as_str() {
                Some(path) if path.starts_with('/') => {
                    props.pointer(path).cloned().unwrap_or(Value::Null)
                }
                _ => value.clone(),
            };
            (name.clone(), value)
        })
        .collect();
    Value::Object(filled)
}
