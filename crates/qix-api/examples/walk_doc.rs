//! Walks an app with the typed API: its sheets, and the objects on each sheet, with titles.
//!
//! ```sh
//! cargo run -p qix-api --example walk_doc      # against a mock engine started in-process
//! cargo run -p qix-api --example walk_doc -- --url wss://host/app/<app-id> \
//!     [--app <app-id>] [--header "Authorization:Bearer <token>"]...
//! ```

use qix_api::types::{GenericObjectLayout, NxGetObjectOptions, NxMeta};
use qix_api::{Doc, Global};
use qix_mock::{MockApp, MockConfig, MockEngine};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("walk_doc failed: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    // The mock lives as long as the walk; with --url there is none.
    let engine = match &args.url {
        Some(_) => None,
        None => Some(MockEngine::start_with(MockConfig::new().app(demo_app())).await?),
    };
    let url = match (&engine, &args.url) {
        (Some(engine), _) => engine.url("/app/sales.qvf"),
        (None, Some(url)) => url.clone(),
        (None, None) => return Err("no engine".into()),
    };
    let app = match args.app.clone() {
        Some(app) => app,
        None => app_in(&url).ok_or("give --app: the URL names no /app/<id>")?,
    };

    let mut builder = qix::Session::builder(&url);
    for (name, value) in &args.headers {
        builder = builder.header(name, value);
    }
    let session = builder.build()?;
    let global = Global::from(session.open().await?);
    let version = global.engine_version().await?;
    println!(
        "engine {}",
        version.component_version.as_deref().unwrap_or("?")
    );

    let doc = global.open_doc(&app).await?;
    let layout = doc.get_app_layout().await?;
    println!("app {:?}", layout.title.as_deref().unwrap_or(&app));
    walk(&doc).await?;
    session.close().await?;
    Ok(())
}

async fn walk(doc: &Doc) -> Result<(), qix::Error> {
    let options = NxGetObjectOptions {
        types: Some(vec!["sheet".to_owned()]),
        ..Default::default()
    };
    let sheets = doc.get_objects(&options).await?;
    println!("{} sheets", sheets.len());
    for entry in sheets {
        let Some(id) = entry.info.and_then(|info| info.id) else {
            continue;
        };
        let sheet = doc.get_object(&id).await?;
        let layout = sheet.get_layout().await?;
        println!("- sheet {id}: {}", sheet_title(&layout));
        for child in sheet.get_child_infos().await? {
            let (Some(id), kind) = (child.id, child.r#type.unwrap_or_default()) else {
                continue;
            };
            let object = doc.get_object(&id).await?;
            let layout = object.get_layout().await?;
            println!("    - {kind} {id}: {}", object_title(&layout));
        }
    }
    Ok(())
}

/// A sheet's title is in its meta data (`qMetaDef.title`, shown in `qMeta`).
fn sheet_title(layout: &GenericObjectLayout) -> String {
    let meta: Option<&NxMeta> = layout.meta.as_ref();
    match meta.and_then(|meta| meta.extra.get("title")) {
        Some(Value::String(title)) => format!("{title:?}"),
        _ => object_title(layout),
    }
}

/// A chart's title is a property of its own (`title`), evaluated in the layout.
fn object_title(layout: &GenericObjectLayout) -> String {
    match layout.extra.get("title") {
        Some(Value::String(title)) if !title.is_empty() => format!("{title:?}"),
        _ => "(no title)".to_owned(),
    }
}

/// The app id of an engine URL `.../app/<id>[/...]`.
fn app_in(url: &str) -> Option<String> {
    let (_, rest) = url.split_once("/app/")?;
    let id = rest.split(['/', '?']).next()?;
    (!id.is_empty()).then(|| id.to_owned())
}

fn demo_app() -> MockApp {
    let sheet = |title: &str| {
        json!({
            "qMetaDef": {"title": title},
            "qChildListDef": {"qData": {"title": "/title"}},
        })
    };
    MockApp::new("sales.qvf")
        .object("overview", "sheet", sheet("Overview"))
        .child(
            "overview",
            "kpi-revenue",
            "kpi",
            json!({"title": "Revenue"}),
        )
        .child(
            "overview",
            "bars-region",
            "barchart",
            json!({"title": "Revenue per region"}),
        )
        .object("details", "sheet", sheet("Details"))
        .child("details", "orders", "table", json!({"title": "Orders"}))
        .child("details", "filters", "filterpane", json!({}))
}

struct Args {
    url: Option<String>,
    app: Option<String>,
    headers: Vec<(String, String)>,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = std::env::args().skip(1);
        let mut parsed = Self {
            url: None,
            app: None,
            headers: Vec::new(),
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--url" => parsed.url = Some(args.next().ok_or("--url needs a value")?),
                "--app" => parsed.app = Some(args.next().ok_or("--app needs a value")?),
                "--header" => {
                    let header = args.next().ok_or("--header needs NAME:VALUE")?;
                    let (name, value) =
                        header.split_once(':').ok_or("--header needs NAME:VALUE")?;
                    parsed
                        .headers
                        .push((name.trim().to_owned(), value.trim().to_owned()));
                }
                "-h" | "--help" => {
                    println!(
                        "usage: walk_doc [--url ws://host:port/app/<id>] [--app <id>] [--header NAME:VALUE]..."
                    );
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}; try --help")),
            }
        }
        Ok(parsed)
    }
}
