//! What a run found: every cell's runs, their medians with min and max, the ratios, and the
//! table and JSON made of them.

use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::{Client, Options, Spec, SPECS};

/// The outcome of one client process: its metrics, or why it failed.
type Outcome = Result<Map<String, Value>, String>;

/// Every cell of a run.
#[derive(Debug)]
pub(crate) struct Results {
    quick: bool,
    reps: usize,
    selected: Vec<&'static str>,
    skipped: Vec<&'static str>,
    runs: Vec<(&'static str, Client, Outcome)>,
}

/// Median, min and max of one figure over the repetitions.
#[derive(Debug, Clone, Copy)]
struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|value| value.is_finite());
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        let median = match values.len() {
            0 => return None,
            n if n % 2 == 1 => values[middle],
            _ => (values[middle - 1] + values[middle]) / 2.0,
        };
        Some(Self {
            median,
            min: values[0],
            max: values[values.len() - 1],
        })
    }
}

/// The label of a figure in the table; `None` for a figure the table does not know.
pub(crate) fn label(metric: &str, unit: &str) -> Option<String> {
    Some(match metric {
        "ops_per_s" => format!("{unit}s/s"),
        "p50_us" => "p50 latency (us)".to_owned(),
        "p99_us" => "p99 latency (us)".to_owned(),
        "cpu_us" => format!("client CPU (us/{unit})"),
        "allocs" => format!("allocations/{unit}"),
        "bytes" => format!("bytes allocated/{unit}"),
        "heap_kib" => format!("heap (KiB/{unit})"),
        "rss_kib" => format!("RSS (KiB/{unit})"),
        "open_ms" => "time to open all (ms)".to_owned(),
        "events" => format!("traffic events seen/{unit}"),
        "lagged" => "traffic events missed (all)".to_owned(),
        "server_us" => format!("engine CPU (us/{unit})"),
        "server_share" => "engine CPU share of wall".to_owned(),
        "us_per_call" => format!("wall time (us/{unit})"),
        "patches" => format!("patches/{unit}"),
        "patches_per_s" => "patches/s".to_owned(),
        "parse_us" => "full parse of the layout (us)".to_owned(),
        "layout_kib" => "layout (KiB)".to_owned(),
        _ => return None,
    })
}

/// A number in three or four significant digits.
fn number(value: f64, metric: &str) -> String {
    if metric == "server_share" {
        return format!("{:.0}%", value * 100.0);
    }
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.2}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

impl Results {
    pub(crate) fn new(options: &Options) -> Self {
        Self {
            quick: options.quick,
            reps: options.reps,
            selected: SPECS
                .iter()
                .filter(|spec| options.selected(spec))
                .map(|spec| spec.id)
                .collect(),
            skipped: Vec::new(),
            runs: Vec::new(),
        }
    }

    pub(crate) fn skip(&mut self, id: &'static str) {
        self.skipped.push(id);
    }

    pub(crate) fn skipped(&self, id: &str) -> bool {
        self.skipped.contains(&id)
    }

    pub(crate) fn record(&mut self, id: &'static str, client: Client, outcome: Outcome) {
        self.runs.push((id, client, outcome));
    }

    pub(crate) fn failures(&self) -> usize {
        self.runs
            .iter()
            .filter(|(.., outcome)| outcome.is_err())
            .count()
    }

    fn specs(&self) -> impl Iterator<Item = &'static Spec> + '_ {
        SPECS
            .iter()
            .filter(|spec| self.selected.contains(&spec.id) && !self.skipped(spec.id))
    }

    fn outcomes<'a>(&'a self, id: &'a str, client: Client) -> impl Iterator<Item = &'a Outcome> {
        self.runs
            .iter()
            .filter(move |(run_id, run_client, _)| *run_id == id && *run_client == client)
            .map(|(.., outcome)| outcome)
    }

    fn clients(&self, spec: &Spec) -> Vec<Client> {
        Client::ALL
            .into_iter()
            .filter(|client| spec.clients.contains(client))
            .filter(|client| self.outcomes(spec.id, *client).next().is_some())
            .collect()
    }

    fn summary(&self, id: &str, client: Client, metric: &str) -> Option<Summary> {
        Summary::of(
            self.outcomes(id, client)
                .filter_map(|outcome| outcome.as_ref().ok())
                .filter_map(|metrics| metrics.get(metric).and_then(Value::as_f64))
                .collect(),
        )
    }

    fn ops(&self, spec: &Spec) -> usize {
        spec.ops[usize::from(self.quick)]
    }

    /// The table, for a person.
    pub(crate) fn table(&self, context: &Value) -> String {
        let mut out = String::new();
        let pinned = match context["options"]["pinned_cpu"].as_u64() {
            Some(cpu) => format!("engine and clients pinned to CPU {cpu}"),
            None => "not pinned".to_owned(),
        };
        let enigma = match (
            context["machine"]["enigma.js"].as_str(),
            context["machine"]["node"].as_str(),
        ) {
            (Some(enigma), Some(node)) => format!("enigma.js {enigma} on node {node}"),
            _ => "no enigma.js".to_owned(),
        };
        let _ = writeln!(
            out,
            "\nqix bench{}: {} rep(s), client order rotated each rep; {pinned}; {enigma}",
            if self.quick { " (--quick)" } else { "" },
            self.reps,
        );
        let _ = writeln!(
            out,
            "cells: median (min..max) over the reps; ratios compare medians (qix / other)\n\
             raw: a bare tokio-tungstenite loop parsing with serde_json, no session (the ceiling); \
             qix: its public API; enigma.js: its public API on node"
        );
        if let [Some(before), Some(after)] =
            [0, 1].map(|i| context["machine"]["load_average"][i].as_f64())
        {
            let _ = writeln!(
                out,
                "load average {before:.1} at the start, {after:.1} at the end: other work on the \
                 machine lowers calls/s more than it moves CPU per call"
            );
        }
        for spec in self.specs() {
            self.section(&mut out, spec);
        }
        let _ = writeln!(out);
        if let Some(line) = self.engine_line() {
            let _ = writeln!(out, "{line}");
        }
        if context["options"]["pinned_cpu"].is_u64() && self.selected.contains(&"tasks8") {
            let _ = writeln!(
                out,
                "note: pinned, tasks8's two runtime workers share the one CPU (--no-pin to spread them)"
            );
        }
        for note in context["notes"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "note: {}", note.as_str().unwrap_or_default());
        }
        let failures: Vec<String> = self
            .runs
            .iter()
            .filter_map(|(id, client, outcome)| {
                outcome
                    .as_ref()
                    .err()
                    .map(|error| format!("failed: {id} {}: {error}", client.name()))
            })
            .collect();
        for failure in failures {
            let _ = writeln!(out, "{failure}");
        }
        let _ = writeln!(
            out,
            "run took {:.0} s ({:.0} s building)",
            context["duration_s"].as_f64().unwrap_or_default(),
            context["build_s"].as_f64().unwrap_or_default()
        );
        out
    }

    fn section(&self, out: &mut String, spec: &Spec) {
        let clients = self.clients(spec);
        let ratios: Vec<Client> = [Client::Raw, Client::Enigma]
            .into_iter()
            .filter(|other| clients.contains(&Client::Qix) && clients.contains(other))
            .collect();
        let mut header = vec!["figure".to_owned()];
        header.extend(clients.iter().map(|client| client.name().to_owned()));
        header.extend(ratios.iter().map(|other| format!("qix/{}", other.name())));
        let mut rows = vec![header];
        for metric in spec.metrics {
            let mut row = vec![label(metric, spec.unit).unwrap_or_else(|| (*metric).to_owned())];
            let mut any = false;
            for client in &clients {
                row.push(match self.summary(spec.id, *client, metric) {
                    Some(summary) => {
                        any = true;
                        format!(
                            "{} ({}..{})",
                            number(summary.median, metric),
                            number(summary.min, metric),
                            number(summary.max, metric)
                        )
                    }
                    None => "-".to_owned(),
                });
            }
            for other in &ratios {
                row.push(
                    self.ratio(spec.id, *other, metric)
                        .map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}x")),
                );
            }
            if any {
                rows.push(row);
            }
        }
        let failed: usize = clients
            .iter()
            .map(|client| {
                self.outcomes(spec.id, *client)
                    .filter(|outcome| outcome.is_err())
                    .count()
            })
            .sum();
        let _ = writeln!(
            out,
            "\n{} ({} {}s{})",
            spec.title,
            group(self.ops(spec)),
            spec.unit,
            if failed > 0 {
                format!(", {failed} run(s) FAILED")
            } else {
                String::new()
            }
        );
        let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                rows.iter()
                    .filter_map(|row| row.get(column))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in rows {
            let mut line = String::from(" ");
            for (column, cell) in row.iter().enumerate() {
                if column == 0 {
                    let _ = write!(line, " {cell:<width$}", width = widths[column]);
                } else {
                    let _ = write!(line, "  {cell:>width$}", width = widths[column]);
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    fn ratio(&self, id: &str, other: Client, metric: &str) -> Option<f64> {
        let qix = self.summary(id, Client::Qix, metric)?.median;
        let other = self.summary(id, other, metric)?.median;
        (other != 0.0 && (qix / other).is_finite()).then(|| qix / other)
    }

    /// How busy the engine was: it must be far from a full CPU for the clients to be measured.
    fn engine_line(&self) -> Option<String> {
        let shares: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|(.., outcome)| outcome.as_ref().ok())
            .filter_map(|metrics| metrics.get("server_share").and_then(Value::as_f64))
            .collect();
        let summary = Summary::of(shares)?;
        let verdict = if summary.max < 0.6 {
            "it is not the bottleneck"
        } else {
            "it may be the bottleneck in some cells: read those with care"
        };
        Some(format!(
            "engine: one thread; its CPU share of wall time was {:.0}% median, {:.0}% at most over all cells: {verdict}",
            summary.median * 100.0,
            summary.max * 100.0
        ))
    }

    /// Everything, for a program.
    pub(crate) fn json(&self, mut context: Value) -> Value {
        let workloads: Vec<Value> = self
            .specs()
            .map(|spec| {
                let clients = self.clients(spec);
                let mut per_client = Map::new();
                for client in &clients {
                    let runs: Vec<Value> = self
                        .outcomes(spec.id, *client)
                        .map(|outcome| match outcome {
                            Ok(metrics) => Value::Object(metrics.clone()),
                            Err(error) => json!({ "error": error }),
                        })
                        .collect();
                    let mut figures = Map::new();
                    for metric in self.metric_names(spec.id, *client) {
                        if let Some(summary) = self.summary(spec.id, *client, &metric) {
                            figures.insert(
                                metric,
                                json!({
                                    "median": summary.median,
                                    "min": summary.min,
                                    "max": summary.max,
                                }),
                            );
                        }
                    }
                    per_client.insert(
                        client.name().to_owned(),
                        json!({ "metrics": figures, "runs": runs }),
                    );
                }
                let mut ratios = Map::new();
                for other in [Client::Raw, Client::Enigma] {
                    if !clients.contains(&Client::Qix) || !clients.contains(&other) {
                        continue;
                    }
                    let figures: Map<String, Value> = self
                        .metric_names(spec.id, Client::Qix)
                        .into_iter()
                        .filter_map(|metric| {
                            let ratio = self.ratio(spec.id, other, &metric)?;
                            Some((metric, json!(ratio)))
                        })
                        .collect();
                    ratios.insert(format!("qix/{}", other.name()), Value::Object(figures));
                }
                json!({
                    "id": spec.id,
                    "title": spec.title,
                    "unit": spec.unit,
                    "ops": self.ops(spec),
                    "clients": per_client,
                    "ratios": ratios,
                })
            })
            .collect();
        if let Value::Object(map) = &mut context {
            map.insert("workloads".to_owned(), Value::Array(workloads));
            map.insert("skipped".to_owned(), json!(self.skipped));
        }
        context
    }

    /// Every figure any run of a cell reported, in a stable order.
    fn metric_names(&self, id: &str, client: Client) -> Vec<String> {
        let mut names: Vec<String> = self
            .outcomes(id, client)
            .filter_map(|outcome| outcome.as_ref().ok())
            .flat_map(|metrics| metrics.keys().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// The line printed as each run ends.
pub(crate) fn headline(spec: &Spec, metrics: &Map<String, Value>) -> String {
    let get = |name: &str| metrics.get(name).and_then(Value::as_f64);
    let mut parts = Vec::new();
    for metric in [
        "ops_per_s",
        "p50_us",
        "cpu_us",
        "heap_kib",
        "open_ms",
        "server_share",
    ] {
        if let (Some(value), Some(label)) = (get(metric), label(metric, spec.unit)) {
            if spec.metrics.contains(&metric) {
                parts.push(format!("{label} {}", number(value, metric)));
            }
        }
    }
    parts.join(", ")
}

/// `12345` as `12,345`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let summary = Summary::of(vec![4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((summary.median, summary.min, summary.max), (2.5, 1.0, 4.0));
        let summary = Summary::of(vec![5.0, 1.0, 3.0]).unwrap();
        assert_eq!(summary.median, 3.0);
        assert!(Summary::of(Vec::new()).is_none());
    }

    #[test]
    fn numbers_keep_three_or_four_digits() {
        assert_eq!(number(81_234.0, "ops_per_s"), "81.2k");
        assert_eq!(number(1_432.0, "bytes"), "1432");
        assert_eq!(number(6.104, "cpu_us"), "6.10");
        assert_eq!(number(0.354, "server_share"), "35%");
        assert_eq!(group(100_000), "100,000");
        assert_eq!(group(999), "999");
    }

    fn metrics(pairs: &[(&str, f64)]) -> Outcome {
        Ok(pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect())
    }

    #[test]
    fn ratios_and_json_come_from_the_medians() {
        let options = Options::parse(&["--only".to_owned(), "seq".to_owned()]).unwrap();
        let mut results = Results::new(&options);
        for (raw, qix) in [(100.0, 40.0), (90.0, 50.0), (110.0, 45.0)] {
            results.record("seq", Client::Raw, metrics(&[("ops_per_s", raw)]));
            results.record("seq", Client::Qix, metrics(&[("ops_per_s", qix)]));
        }
        results.record("seq", Client::Enigma, Err("no node".to_owned()));
        let json = results.json(json!({}));
        let seq = &json["workloads"][0];
        assert_eq!(
            seq["clients"]["qix"]["metrics"]["ops_per_s"]["median"],
            45.0
        );
        assert_eq!(seq["clients"]["raw"]["metrics"]["ops_per_s"]["max"], 110.0);
        assert_eq!(seq["ratios"]["qix/raw"]["ops_per_s"], 0.45);
        assert_eq!(seq["clients"]["enigma.js"]["runs"][0]["error"], "no node");
        assert!(seq["ratios"].get("qix/enigma.js").is_some());
        assert_eq!(results.failures(), 1);
        let table = results.table(&json!({}));
        assert!(table.contains("45.0 (40.0..50.0)"), "{table}");
        assert!(table.contains("0.45x"), "{table}");
    }
}
