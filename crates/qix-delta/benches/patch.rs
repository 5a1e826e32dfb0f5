//! What a delta answer costs next to a full one: a ~1 MB hypercube layout (rows of cells
//! `{qText, qNum, qElemNumber, qState}`) in which 1% of the cells change between answers.
//! Plain std timing; run with `cargo bench -p qix-delta`. With `QIX_BENCH_JSON=<file>` the
//! figures are also written there as JSON.
//!
//! Measured: a full `serde_json::from_str::<Value>` of the layout; the first answer (the
//! layout as one `add` at `/`, read and applied); a delta answer read from text and applied
//! (the caller dropped the previous value, so it is patched in place); the same with the
//! patches already read; the same while the caller still holds the previous value (one copy of
//! the layout); the unchanged answer `[]`; and writing the full value back out as text.

use std::hint::black_box;
use std::time::{Duration, Instant};

use qix_delta::{parse_patches, DeltaCache, Patch};
use serde_json::{json, Value};

const ROWS: usize = 1500;
const COLUMNS: usize = 10;
/// One cell in a hundred changes between two answers.
const CHANGED_EVERY: usize = 100;
const HANDLE: i32 = 7;
const METHOD: &str = "GetLayout";
const MEMBER: &str = "qLayout";

fn cell(row: usize, column: usize, round: usize) -> Value {
    let n = row * COLUMNS + column;
    json!({
        "qText": format!("Item {n} v{round}"),
        "qNum": n as f64 + 0.25 + round as f64,
        "qElemNumber": n,
        "qState": "O",
    })
}

fn layout() -> Value {
    let matrix: Vec<Value> = (0..ROWS)
        .map(|row| Value::Array((0..COLUMNS).map(|column| cell(row, column, 0)).collect()))
        .collect();
    json!({
        "qInfo": {"qId": "bench-table", "qType": "table"},
        "qSelectionInfo": {},
        "qHyperCube": {
            "qSize": {"qcx": COLUMNS, "qcy": ROWS},
            "qDimensionInfo": [{"qFallbackTitle": "Item", "qCardinal": ROWS * COLUMNS}],
            "qMeasureInfo": [],
            "qDataPages": [{
                "qArea": {"qLeft": 0, "qTop": 0, "qWidth": COLUMNS, "qHeight": ROWS},
                "qMatrix": matrix,
            }],
        },
    })
}

/// The engine's answer when every hundredth cell got a new text and number in `round`.
fn delta(round: usize) -> String {
    let mut patches = Vec::new();
    for n in (0..ROWS * COLUMNS).step_by(CHANGED_EVERY) {
        let (row, column) = (n / COLUMNS, n % COLUMNS);
        let at = format!("/qHyperCube/qDataPages/0/qMatrix/{row}/{column}");
        let new = cell(row, column, round);
        for member in ["qText", "qNum"] {
            patches.push(Patch::Replace {
                path: format!("{at}/{member}"),
                value: new[member].clone(),
            });
        }
    }
    serde_json::to_string(&patches).unwrap_or_default()
}

/// Runs `step` `rounds` times and returns the mean time of one run.
fn time(rounds: usize, mut step: impl FnMut(usize)) -> Duration {
    step(0); // warm up
    let start = Instant::now();
    for round in 0..rounds {
        step(round);
    }
    start.elapsed() / rounds as u32
}

fn show(duration: Duration) -> String {
    let ns = duration.as_nanos() as f64;
    if ns >= 1e6 {
        format!("{:8.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:8.2} µs", ns / 1e3)
    } else {
        format!("{ns:8.0} ns")
    }
}

fn main() {
    let text = serde_json::to_string(&layout()).unwrap_or_default();
    let first_answer = format!(r#"[{{"op":"add","path":"/","value":{text}}}]"#);
    // Two alternating answers, so that every call really changes the values.
    let deltas = [delta(1), delta(2)];
    let patches_per_call = parse_patches(&deltas[0]).map_or(0, |patches| patches.len());

    let full_parse = time(40, |_| {
        black_box(serde_json::from_str::<Value>(black_box(&text)).ok());
    });

    let first = time(40, |_| {
        let mut cache = DeltaCache::new();
        black_box(cache.apply_json(HANDLE, METHOD, MEMBER, &first_answer).ok());
    });

    let mut cache = DeltaCache::new();
    let seeded = cache.apply_json(HANDLE, METHOD, MEMBER, &first_answer);
    assert!(seeded.is_ok(), "the first answer applies");
    drop(seeded);

    let delta_text = time(2000, |round| {
        let value = cache.apply_json(HANDLE, METHOD, MEMBER, &deltas[round % 2]);
        assert!(value.is_ok(), "the delta applies");
        black_box(value.ok());
    });

    let parsed: Vec<Vec<Patch>> = (0..2001)
        .map(|round| parse_patches(&deltas[round % 2]).unwrap_or_default())
        .collect();
    let mut parsed = parsed.into_iter();
    let delta_parsed = time(2000, |_| {
        let patches = parsed.next().unwrap_or_default();
        black_box(cache.apply(HANDLE, METHOD, MEMBER, patches).ok());
    });

    let mut held = cache.get(HANDLE, METHOD, MEMBER);
    let delta_held = time(40, |round| {
        let value = cache
            .apply_json(HANDLE, METHOD, MEMBER, &deltas[round % 2])
            .ok();
        held = black_box(value);
    });
    drop(held);

    let unchanged = time(1_000_000, |_| {
        black_box(
            cache
                .apply_json(HANDLE, METHOD, MEMBER, black_box("[]"))
                .ok(),
        );
    });

    let value = cache.get(HANDLE, METHOD, MEMBER).unwrap_or_default();
    let serialize = time(40, |_| {
        black_box(serde_json::to_string(black_box(&*value)).ok());
    });

    let per_second = |duration: Duration| patches_per_call as f64 / duration.as_secs_f64();
    println!(
        "qix-delta: layout {:.2} MB ({ROWS} rows x {COLUMNS} cells), {patches_per_call} patches \
         per delta (1% of cells changed)",
        text.len() as f64 / 1e6
    );
    println!(
        "  full parse, serde_json::from_str::<Value>   {}",
        show(full_parse)
    );
    println!(
        "  first answer (add at `/`), read + apply     {}",
        show(first)
    );
    println!(
        "  delta, read + apply                         {}   {:.2} M patches/s",
        show(delta_text),
        per_second(delta_text) / 1e6
    );
    println!(
        "  delta, apply only (patches already read)    {}   {:.2} M patches/s",
        show(delta_parsed),
        per_second(delta_parsed) / 1e6
    );
    println!(
        "  delta, previous value still held (1 copy)  {}",
        show(delta_held)
    );
    println!(
        "  unchanged `[]`                              {}",
        show(unchanged)
    );
    println!(
        "  full value back to text, to_string         {}",
        show(serialize)
    );

    if let Ok(path) = std::env::var("QIX_BENCH_JSON") {
        let ns = |duration: Duration| duration.as_nanos() as u64;
        let figures = json!({
            "bench": "qix-delta/patch",
            "layout_bytes": text.len(),
            "rows": ROWS,
            "columns": COLUMNS,
            "patches_per_delta": patches_per_call,
            "full_parse_ns": ns(full_parse),
            "first_answer_ns": ns(first),
            "delta_read_apply_ns": ns(delta_text),
            "delta_read_apply_patches_per_s": per_second(delta_text),
            "delta_apply_only_ns": ns(delta_parsed),
            "delta_apply_only_patches_per_s": per_second(delta_parsed),
            "delta_value_held_ns": ns(delta_held),
            "unchanged_ns": ns(unchanged),
            "serialize_ns": ns(serialize),
        });
        let written = serde_json::to_string_pretty(&figures)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&path, text));
        if let Err(error) = written {
            eprintln!("qix-delta bench: cannot write {path}: {error}");
            std::process::exit(1);
        }
    }
}
