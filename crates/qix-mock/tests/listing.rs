//! The answers that describe an app: the doc list, the app layout, infos, object entries,
//! children, and layouts with their computed members; as raw frames on a real socket.

mod common;

use qix_mock::{MockApp, MockConfig, MockEngine};
use serde_json::json;

use common::{handle, Client};

fn app() -> MockApp {
    MockApp::new("Sales.qvf")
        .object(
            "sheet-1",
            "sheet",
            json!({
                "qMetaDef": {"title": "Overview"},
                "qChildListDef": {"qData": {"title": "/title", "fixed": 7}},
            }),
        )
        .child("sheet-1", "kpi", "kpi", json!({"title": "Revenue"}))
        .object("loose", "kpi", json!({"title": "Not on a sheet"}))
        .measure("m-1", json!({"qMeasure": {"qDef": "Sum(X)"}}))
}

async fn open() -> (MockEngine, Client, i32) {
    let engine = MockEngine::start_with(MockConfig::new().app(app()).app(MockApp::new("A.qvf")))
        .await
        .unwrap();
    let (mut client, _) = Client::open(&engine.app_url("Sales.qvf")).await;
    let doc = client.open_doc("Sales.qvf").await;
    (engine, client, doc)
}

#[tokio::test]
async fn get_doc_list_lists_every_app_by_id() {
    let (_engine, mut client, _) = open().await;
    let list = client.result(-1, "GetDocList", json!([])).await;
    let names: Vec<_> = list["qDocList"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["qDocName"].clone())
        .collect();
    assert_eq!(names, [json!("A.qvf"), json!("Sales.qvf")]);
    assert_eq!(list["qDocList"][1]["qDocId"], "Sales.qvf");
}

#[tokio::test]
async fn get_app_layout_describes_the_open_doc() {
    let (_engine, mut client, doc) = open().await;
    let layout = client.result(doc, "GetAppLayout", json!([])).await;
    assert_eq!(layout["qLayout"]["qTitle"], "Sales.qvf");
    assert_eq!(layout["qLayout"]["qIsSessionApp"], false);
    assert!(layout["qLayout"]["qLocaleInfo"]["qDecimalSep"].is_string());
}

#[tokio::test]
async fn get_all_infos_and_get_objects_list_the_objects() {
    let (_engine, mut client, doc) = open().await;
    let infos = client.result(doc, "GetAllInfos", json!([])).await;
    assert_eq!(infos["qInfos"].as_array().unwrap().len(), 4);
    assert!(infos["qInfos"]
        .as_array()
        .unwrap()
        .contains(&json!({"qId": "m-1", "qType": "measure"})));

    let options = json!({"qTypes": ["sheet"], "qData": {"title": "/qMetaDef/title", "n": 1}});
    let sheets = client.result(doc, "GetObjects", json!([options])).await;
    assert_eq!(
        sheets["qList"],
        json!([{
            "qInfo": {"qId": "sheet-1", "qType": "sheet"},
            "qMeta": {"title": "Overview"},
            "qData": {"title": "Overview", "n": 1},
        }])
    );
    let all = client
        .result(doc, "GetObjects", json!({"qOptions": {}}))
        .await;
    assert_eq!(
        all["qList"].as_array().unwrap().len(),
        3,
        "generic objects only"
    );
}

#[tokio::test]
async fn children_are_listed_reached_and_in_the_layout() {
    let (_engine, mut client, doc) = open().await;
    let sheet = handle(&client.result(doc, "GetObject", json!(["sheet-1"])).await);
    let infos = client.result(sheet, "GetChildInfos", json!([])).await;
    assert_eq!(infos, json!({"qInfos": [{"qId": "kpi", "qType": "kpi"}]}));

    let layout = client.result(sheet, "GetLayout", json!([])).await;
    let layout = &layout["qLayout"];
    assert_eq!(layout["qMeta"], json!({"title": "Overview"}));
    assert_eq!(layout["qSelectionInfo"], json!({}));
    assert!(layout.get("qMetaDef").is_none() && layout.get("qChildListDef").is_none());
    assert_eq!(
        layout["qChildList"],
        json!({"qItems": [{"qInfo": {"qId": "kpi", "qType": "kpi"}, "qData": {"title": "Revenue", "fixed": 7}}]})
    );

    let kpi = client.result(sheet, "GetChild", json!(["kpi"])).await;
    assert_eq!(kpi["qReturn"]["qGenericId"], "kpi");
    let loose = client.result(sheet, "GetChild", json!(["loose"])).await;
    assert_eq!(loose, json!({"qReturn": {"qHandle": null, "qType": null}}));

    // Setting a child's properties keeps it a child.
    let kpi = handle(&kpi);
    client
        .result(
            kpi,
            "SetProperties",
            json!([{"qInfo": {"qType": "kpi"}, "title": "Margin"}]),
        )
        .await;
    let infos = client.result(sheet, "GetChildInfos", json!([])).await;
    assert_eq!(infos["qInfos"].as_array().unwrap().len(), 1);
}
