//! The typed API over a real socket to qix-mock: docs, objects, layouts, properties, events,
//! suspend and resume; and every kind of answer the mock gives, read into the generated types.

mod common;

use futures_util::StreamExt;
use qix::ObjectEvent;
use qix_api::types::{GenericObjectProperties, NxGetObjectOptions, NxInfo};
use qix_api::{Doc, GenericObject};
use serde::Deserialize;
use serde_json::json;
use tokio::time::timeout;

use common::{setup, WAIT};

#[tokio::test]
async fn open_a_doc_get_an_object_and_read_its_typed_layout() {
    let s = setup().await;
    let doc: Doc = s.global.open_doc("sales.qvf").await.unwrap();
    assert_eq!(doc.object().object_type(), "Doc");
    assert_eq!(doc.object().id(), "sales.qvf");

    let kpi: GenericObject = doc.get_object("kpi").await.unwrap();
    assert_eq!(kpi.object().generic_type(), Some("kpi"));
    let layout = kpi.get_layout().await.unwrap();
    let info = layout.info.as_ref().unwrap();
    assert_eq!(info.id.as_deref(), Some("kpi"));
    assert_eq!(info.r#type.as_deref(), Some("kpi"));
    assert_eq!(layout.state_name.as_deref(), Some("$"));
    assert!(layout.selection_info.is_some());
    // A user-defined property comes through in the extra members.
    assert_eq!(layout.extra["title"], "Revenue");

    let missing = doc.get_object("no-such-object").await.unwrap_err();
    assert!(matches!(missing, qix::Error::ObjectNotFound), "{missing}");
}

#[tokio::test]
async fn set_properties_and_read_them_back() {
    let s = setup().await;
    let doc = s.global.open_doc("sales.qvf").await.unwrap();
    let kpi = doc.get_object("kpi").await.unwrap();

    let mut properties = kpi.get_properties().await.unwrap();
    assert_eq!(properties.extra["title"], "Revenue");
    properties.extra.insert("title".to_owned(), json!("Margin"));
    properties
        .extra
        .insert("color".to_owned(), json!({"index": 3}));
    kpi.set_properties(&properties).await.unwrap();

    let again = kpi.get_properties().await.unwrap();
    assert_eq!(again, properties);
    assert_eq!(again.info.unwrap().id.as_deref(), Some("kpi"));

    // The same answer in a type of the caller's own.
    #[derive(Deserialize)]
    struct Kpi {
        title: String,
        color: Color,
    }
    #[derive(Deserialize)]
    struct Color {
        index: u32,
    }
    let mine: Kpi = kpi.get_layout_as().await.unwrap();
    assert_eq!(mine.title, "Margin");
    assert_eq!(mine.color.index, 3);
    let mine: Kpi = kpi.get_properties_as().await.unwrap();
    assert_eq!(mine.title, "Margin");
}

#[tokio::test]
async fn the_changed_event_reaches_the_wrapper() {
    let s = setup().await;
    let doc = s.global.open_doc("sales.qvf").await.unwrap();
    let bars = doc.get_object("bars").await.unwrap();
    let mut changed = bars.subscribe("changed").unwrap();

    let properties = GenericObjectProperties {
        info: Some(NxInfo {
            id: Some("bars".to_owned()),
            r#type: Some("barchart".to_owned()),
        }),
        ..Default::default()
    };
    bars.set_properties(&properties).await.unwrap();
    let event = timeout(WAIT, changed.next()).await.unwrap();
    assert!(matches!(event, Some(ObjectEvent::Changed)), "{event:?}");
}

#[tokio::test]
async fn typed_wrappers_keep_working_across_suspend_and_resume() {
    let s = setup().await;
    let doc = s.global.open_doc("sales.qvf").await.unwrap();
    let sheet = doc.get_object("sheet-1").await.unwrap();
    let handle_before = sheet.object().handle();
    let before = sheet.get_layout().await.unwrap();

    s.session.suspend().await.unwrap();
    let error = sheet.get_layout().await.unwrap_err();
    assert!(matches!(error, qix::Error::SessionSuspended), "{error}");
    s.session.resume(true).await.unwrap();

    assert_ne!(
        sheet.object().handle(),
        handle_before,
        "a new socket, a new handle"
    );
    let after = sheet.get_layout().await.unwrap();
    assert_eq!(after, before);
    let version = s.global.engine_version().await.unwrap();
    assert_eq!(version.component_version.as_deref(), Some("12.2528.0"));
    let app = doc.get_app_layout().await.unwrap();
    assert_eq!(app.title.as_deref(), Some("sales.qvf"));
}

/// Every method the mock answers, typed: nothing the mock sends fails to deserialize, and the
/// values are the ones it was seeded with.
#[tokio::test]
#[allow(deprecated)]
async fn every_kind_of_mock_answer_reads_into_the_generated_types() {
    let s = setup().await;
    let global = &s.global;
    assert_eq!(
        global
            .engine_version()
            .await
            .unwrap()
            .component_version
            .as_deref(),
        Some("12.2528.0")
    );
    assert_eq!(
        global.product_version().await.unwrap(),
        "12.2528.0 (qix-mock)"
    );
    let docs = global.get_doc_list().await.unwrap();
    assert_eq!(docs.len(), 1);
    assert_eq!(docs[0].doc_name.as_deref(), Some("sales.qvf"));
    assert!(docs[0].file_time.is_some());
    let doc = global.open_doc("sales.qvf").await.unwrap();
    assert_eq!(global.get_active_doc().await.unwrap(), doc);

    let layout = doc.get_app_layout().await.unwrap();
    assert_eq!(layout.is_session_app, Some(false));
    let locale = layout.locale_info.unwrap();
    assert_eq!(locale.decimal_sep.as_deref(), Some("."));
    assert_eq!(locale.first_week_day, Some(6));

    let infos = doc.get_all_infos().await.unwrap();
    let mut ids: Vec<_> = infos.iter().filter_map(|i| i.id.as_deref()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "bars",
            "bm-q1",
            "dim-region",
            "kpi",
            "m-revenue",
            "sheet-1",
            "v-year"
        ]
    );

    let options = NxGetObjectOptions {
        types: Some(vec!["sheet".to_owned()]),
        data: Some(qix_api::types::JsonObject {
            extra: json!({"rank": "/rank"}).as_object().cloned().unwrap(),
        }),
        ..Default::default()
    };
    let sheets = doc.get_objects(&options).await.unwrap();
    assert_eq!(sheets.len(), 1);
    let meta = sheets[0].meta.as_ref().unwrap();
    assert_eq!(meta.extra["title"], "Overview");
    assert_eq!(sheets[0].data.as_ref().unwrap().extra["rank"], 0);

    let sheet = doc.get_object("sheet-1").await.unwrap();
    let children = sheet.get_child_infos().await.unwrap();
    assert_eq!(children.len(), 2);
    let layout = sheet.get_layout().await.unwrap();
    let child_list: qix_api::types::ChildList =
        serde_json::from_value(layout.extra["qChildList"].clone()).unwrap();
    let titles: Vec<_> = child_list
        .items
        .unwrap()
        .into_iter()
        .map(|item| item.data.unwrap().extra["title"].clone())
        .collect();
    assert!(titles.contains(&json!("Revenue")), "{titles:?}");
    let kpi = sheet.get_child("kpi").await.unwrap();
    assert_eq!(kpi.get_info().await.unwrap().id.as_deref(), Some("kpi"));

    let dimension = doc.get_dimension("dim-region").await.unwrap();
    let properties = dimension.get_properties().await.unwrap();
    let fields = properties.dim.clone().unwrap().field_defs.unwrap();
    assert_eq!(fields, ["Region"]);
    assert!(dimension.get_layout().await.unwrap().info.is_some());
    dimension.set_properties(&properties).await.unwrap();

    let measure = doc.get_measure("m-revenue").await.unwrap();
    let definition = measure.get_properties().await.unwrap().measure.unwrap();
    assert_eq!(definition.def.as_deref(), Some("Sum(Revenue)"));
    assert!(measure.get_layout().await.unwrap().info.is_some());

    let bookmark = doc.get_bookmark("bm-q1").await.unwrap();
    let layout = bookmark.get_layout().await.unwrap();
    assert_eq!(layout.meta.unwrap().extra["title"], "Q1");
    assert!(bookmark.get_properties().await.unwrap().info.is_some());

    let variable = doc.get_variable_by_id("v-year").await.unwrap();
    let properties = variable.get_properties().await.unwrap();
    assert_eq!(properties.name.as_deref(), Some("vYear"));
    assert!(variable.get_layout().await.unwrap().info.is_some());

    let region = doc.get_field("Region").await.unwrap();
    assert_eq!(region.object().object_type(), "Field");
    assert!(matches!(
        doc.get_field("Nope").await,
        Err(qix::Error::ObjectNotFound)
    ));

    // Creating and destroying, each kind.
    let info = |id: &str, kind: &str| NxInfo {
        id: Some(id.to_owned()),
        r#type: Some(kind.to_owned()),
    };
    let object = doc
        .create_object(&GenericObjectProperties {
            info: Some(info("made", "table")),
            ..Default::default()
        })
        .await
        .unwrap();
    // The engine's other out-parameter comes along with the object.
    assert_eq!(object.object.object().id(), "made");
    assert_eq!(
        object.info.as_ref().and_then(|info| info.id.as_deref()),
        Some("made")
    );
    assert!(doc.destroy_object("made").await.unwrap());
    let session_object = doc
        .create_session_object(&GenericObjectProperties {
            info: Some(info("temp", "listbox")),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        session_object.get_info().await.unwrap().r#type.as_deref(),
        Some("listbox")
    );
    assert!(doc.destroy_session_object("temp").await.unwrap());
    assert!(!doc.destroy_session_object("temp").await.unwrap());

    let made = doc.create_dimension(&Default::default()).await.unwrap();
    assert!(doc
        .destroy_dimension(made.object.object().id())
        .await
        .unwrap());
    let made = doc.create_measure(&Default::default()).await.unwrap();
    assert!(doc
        .destroy_measure(made.object.object().id())
        .await
        .unwrap());
    let made = doc.create_bookmark(&Default::default()).await.unwrap();
    assert!(doc
        .destroy_bookmark(made.object.object().id())
        .await
        .unwrap());
    let made = doc.create_variable_ex(&Default::default()).await.unwrap();
    assert!(doc
        .destroy_variable_by_id(made.object.object().id())
        .await
        .unwrap());

    // Methods without out-parameters return ().
    global.abort_request(4242).await.unwrap();
    global.cancel_request(4242).await.unwrap();
    global.abort_all().await.unwrap();

    // An engine error comes back as qix's error, with the engine's code.
    let error = doc.get_script().await.unwrap_err();
    assert_eq!(error.code(), Some(qix_mock::codes::METHOD_NOT_FOUND));
}

#[tokio::test]
async fn a_session_app_is_a_doc() {
    let s = setup().await;
    let made = s.global.create_session_app().await.unwrap();
    let app = made.object;
    assert!(app.object().id().starts_with("SessionApp_"));
    // qSessionAppId, which call_object alone would drop, names the same app.
    assert_eq!(made.session_app_id.as_deref(), Some(app.object().id()));
    let layout = app.get_app_layout().await.unwrap();
    assert_eq!(layout.is_session_app, Some(true));
}

#[tokio::test]
async fn q_int_3_typed_calls_go_through_interceptors_and_read_the_value_they_settle_on() {
    use qix::intercept::{request_fn, response_fn, Answer, Request, Verdict};
    use std::sync::{Arc, Mutex};

    let engine =
        qix_mock::MockEngine::start_with(qix_mock::MockConfig::new().app(common::sales_app()))
            .await
            .unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let session = qix::Session::builder(engine.url("/app/sales.qvf"))
        .request_interceptor(request_fn(move |request: Request| {
            record
                .lock()
                .unwrap()
                .push(format!("{} {}", request.method(), request.params()));
            async move { Ok(request) }
        }))
        .response_interceptor(response_fn(|request: Arc<Request>, outcome| async move {
            match outcome {
                Ok(Answer::Value(mut value)) if request.method() == "GetLayout" => {
                    value["qLayout"]["title"] = json!("Intercepted");
                    Verdict::Pass(Ok(Answer::Value(value)))
                }
                outcome => Verdict::Pass(outcome),
            }
        }))
        .build()
        .unwrap();
    let global = qix_api::Global::from(session.open().await.unwrap());
    let doc = global.open_doc("sales.qvf").await.unwrap();
    let kpi = doc.get_object("kpi").await.unwrap();
    // Generated methods that return objects and values both pass through.
    let layout = kpi.get_layout().await.unwrap();
    assert_eq!(layout.extra["title"], "Intercepted");
    assert_eq!(layout.info.unwrap().id.as_deref(), Some("kpi"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], r#"OpenDoc ["sales.qvf"]"#);
    assert!(seen[1].starts_with("GetObject "), "{seen:?}");
    assert_eq!(seen[2], "GetLayout []");
}
