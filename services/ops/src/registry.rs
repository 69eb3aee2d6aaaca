//! A service's metrics registry: its own recorder of the `metrics` facade
//! (`metrics_exporter_prometheus::PrometheusRecorder`, which also renders the
//! Prometheus text), the names under the service's prefix, and the ready flag
//! `/healthz` reports.
//!
//! No global recorder is ever installed: several services run in one test
//! process (a launcher, a recorder and an edge together), so each instance
//! owns its registry, and its metric handles come from it. The typed helpers
//! declare a metric with its help text (and, for a family, its fixed label
//! names) and hand back `metrics` handles; a declared metric exists, at zero,
//! from the first scrape, and so does every series a family is
//! [`zeroed`](Family::zeroed) for. This module serves nothing: `/metrics`
//! is [`crate::serve`]'s.

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// What the recorder is told about each registration (it ignores it).
const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// What every service's metrics hold alike: a recorder under the service's
/// prefix (`moat_edge`, ...) and the ready flag `/healthz` reports.
pub struct Registry {
    prefix: String,
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// The full names of the histograms that were given buckets.
    bucketed: BTreeSet<String>,
    /// Every declared name, so that a name is declared once and
    /// [`Registry::value`] can tell a typo from a series not yet counted.
    declared: Mutex<BTreeSet<String>>,
    ready: AtomicBool,
}

impl Registry {
    /// A registry whose metric names all start with `prefix` and `_`; not
    /// ready. `buckets` names every histogram the service will declare
    /// (without the prefix) with its bucket boundaries: the exporter fixes
    /// them when the recorder is built.
    pub fn new(prefix: &str, buckets: &[(&str, &[f64])]) -> Self {
        let mut builder = PrometheusBuilder::new();
        let mut bucketed = BTreeSet::new();
        for (name, bounds) in buckets {
            let full = format!("{prefix}_{name}");
            builder = builder
                .set_buckets_for_metric(Matcher::Full(full.clone()), bounds)
                .expect("histogram buckets are not empty");
            assert!(bucketed.insert(full), "buckets for {name} given twice");
        }
        let recorder = builder.build_recorder();
        Self {
            prefix: prefix.to_owned(),
            handle: recorder.handle(),
            recorder: Arc::new(recorder),
            bucketed,
            declared: Mutex::default(),
            ready: AtomicBool::new(false),
        }
    }

    /// A counter without labels, at zero. Counters' names end in `_total`.
    pub fn counter(&self, name: &str, help: &'static str) -> metrics::Counter {
        self.counters(name, help, &[]).with(&[])
    }

    /// A gauge without labels, at zero.
    pub fn gauge(&self, name: &str, help: &'static str) -> metrics::Gauge {
        self.gauges(name, help, &[]).with(&[])
    }

    /// A histogram without labels, empty; its buckets are those given to
    /// [`Registry::new`].
    pub fn histogram(&self, name: &str, help: &'static str) -> metrics::Histogram {
        self.histograms(name, help, &[]).with(&[])
    }

    /// A family of counters with these label names.
    pub fn counters(
        &self,
        name: &str,
        help: &'static str,
        labels: &[&'static str],
    ) -> Family<metrics::Counter> {
        let full = self.declare(name);
        self.recorder
            .describe_counter(KeyName::from(full.clone()), None, help.into());
        Family::new(full, labels, self.recorder.clone())
    }

    /// A family of gauges with these label names.
    pub fn gauges(
        &self,
        name: &str,
        help: &'static str,
        labels: &[&'static str],
    ) -> Family<metrics::Gauge> {
        let full = self.declare(name);
        self.recorder
            .describe_gauge(KeyName::from(full.clone()), None, help.into());
        Family::new(full, labels, self.recorder.clone())
    }

    /// A family of histograms with these label names, all with the buckets
    /// given to [`Registry::new`] for `name`.
    pub fn histograms(
        &self,
        name: &str,
        help: &'static str,
        labels: &[&'static str],
    ) -> Family<metrics::Histogram> {
        let full = self.declare(name);
        assert!(
            self.bucketed.contains(&full),
            "histogram {full} has no buckets: name it in Registry::new"
        );
        self.recorder
            .describe_histogram(KeyName::from(full.clone()), None, help.into());
        Family::new(full, labels, self.recorder.clone())
    }

    fn declare(&self, name: &str) -> String {
        let full = format!("{}_{name}", self.prefix);
        let fresh = self
            .declared
            .lock()
            .expect("not poisoned")
            .insert(full.clone());
        assert!(fresh, "metric {full} declared twice");
        full
    }

    /// Marks the service ready (or not) for `/healthz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// The metrics in the Prometheus text format, metric families sorted by
    /// name and series by labels (the exporter's own order is its hash
    /// maps').
    pub fn render(&self) -> String {
        sorted(&self.handle.render())
    }

    /// Moves histograms' recorded samples into their buckets. The exporter
    /// keeps samples until a render or this; [`crate::serve`] calls it
    /// periodically, so an unscraped service does not grow.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The current value of one series, by its full rendered name
    /// (`moat_edge_ws_closed_total`; a histogram's `_count`, `_sum` or
    /// `_bucket` with `le`) and its labels in any order; 0 for a series of a
    /// declared metric that has not been counted yet. For tests and tools.
    ///
    /// # Panics
    /// If no metric of that name was declared.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find(|base| self.bucketed.contains(*base))
            .unwrap_or(name);
        assert!(
            self.declared.lock().expect("not poisoned").contains(family),
            "no metric {name} is declared"
        );
        let mut want: Vec<(&str, &str)> = labels.to_vec();
        want.sort_unstable();
        let text = self.handle.render();
        text.lines()
            .filter_map(parse_series)
            .find(|s| s.name == name && s.labels_sorted() == want)
            .map_or(0.0, |s| s.value)
    }
}

/// One metric of a [`Registry`] with fixed label names: `with` hands back the
/// series for a set of values (in the order the names were declared). Cheap
/// to clone.
pub struct Family<M> {
    name: KeyName,
    labels: Arc<[&'static str]>,
    /// Positions of `labels` sorted by name: series render their labels in
    /// name order, as Prometheus' own client libraries do.
    order: Arc<[usize]>,
    recorder: Arc<PrometheusRecorder>,
    kind: PhantomData<fn() -> M>,
}

impl<M> Clone for Family<M> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            labels: self.labels.clone(),
            order: self.order.clone(),
            recorder: self.recorder.clone(),
            kind: PhantomData,
        }
    }
}

/// The `metrics` handle types a [`Family`] can hand out.
pub trait Metric: Sized {
    /// The handle for `key`, registered (at zero) if it is new.
    fn register(recorder: &PrometheusRecorder, key: &Key) -> Self;
}

impl Metric for metrics::Counter {
    fn register(recorder: &PrometheusRecorder, key: &Key) -> Self {
        recorder.register_counter(key, &METADATA)
    }
}

impl Metric for metrics::Gauge {
    fn register(recorder: &PrometheusRecorder, key: &Key) -> Self {
        recorder.register_gauge(key, &METADATA)
    }
}

impl Metric for metrics::Histogram {
    fn register(recorder: &PrometheusRecorder, key: &Key) -> Self {
        recorder.register_histogram(key, &METADATA)
    }
}

impl<M: Metric> Family<M> {
    fn new(name: String, labels: &[&'static str], recorder: Arc<PrometheusRecorder>) -> Self {
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by_key(|&i| labels[i]);
        let family = Self {
            name: KeyName::from(name),
            labels: labels.into(),
            order: order.into(),
            recorder,
            kind: PhantomData,
        };
        // A metric without labels is its one series: it exists from the start.
        if labels.is_empty() {
            family.with(&[]);
        }
        family
    }

    /// The series for `values`, one per label name, in declaration order;
    /// registered (at zero) if it is new.
    ///
    /// # Panics
    /// If the number of values is not the number of label names.
    pub fn with(&self, values: &[&str]) -> M {
        assert_eq!(
            values.len(),
            self.labels.len(),
            "{}: values {values:?} for labels {:?}",
            self.name.as_str(),
            self.labels
        );
        let labels: Vec<Label> = self
            .order
            .iter()
            .map(|&i| Label::new(self.labels[i], SharedString::from(values[i].to_owned())))
            .collect();
        M::register(&self.recorder, &Key::from_parts(self.name.clone(), labels))
    }

    /// Registers, at zero, every combination of `sets` (one set of values per
    /// label name, in declaration order), so that each series exists from
    /// the first scrape. For label values from a small fixed set.
    pub fn zeroed(self, sets: &[&[&str]]) -> Self {
        assert_eq!(
            sets.len(),
            self.labels.len(),
            "{}: one set of values per label",
            self.name.as_str()
        );
        let mut combination = Vec::with_capacity(sets.len());
        self.register_every(sets, &mut combination);
        self
    }

    /// Registers, at zero, each of these series (its values in declaration
    /// order): for label values that are fixed together rather than as a
    /// product of sets.
    pub fn zeroed_series<const N: usize>(self, series: &[[&str; N]]) -> Self {
        for values in series {
            self.with(values);
        }
        self
    }

    fn register_every<'a>(&self, sets: &[&[&'a str]], combination: &mut Vec<&'a str>) {
        match sets.split_first() {
            None => {
                self.with(combination);
            }
            Some((first, rest)) => {
                for value in *first {
                    combination.push(value);
                    self.register_every(rest, combination);
                    combination.pop();
                }
            }
        }
    }
}

/// One series line of the text format.
struct Series<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Series<'_> {
    fn labels_sorted(&self) -> Vec<(&str, &str)> {
        let mut v: Vec<(&str, &str)> = self.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        v.sort_unstable();
        v
    }
}

/// `name{k="v",...} value` (or `name value`), label values unescaped; `None`
/// for comments, blank lines and anything else.
fn parse_series(line: &str) -> Option<Series<'_>> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let end = line.find(['{', ' '])?;
    let (name, mut rest) = line.split_at(end);
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find("=\"")?;
            let key = &rest[..eq];
            let mut value = String::new();
            let mut chars = rest[eq + 2..].char_indices();
            let close = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key, value));
            rest = &rest[eq + 2 + close + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let value = rest.trim().parse().ok()?;
    Some(Series {
        name,
        labels,
        value,
    })
}

/// The exporter's text with its families in name order and, within each,
/// its series in label order (a histogram's lines kept together, from its
/// first bucket to its `_count`).
fn sorted(text: &str) -> String {
    let mut families: Vec<(&str, String)> = text
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut head = Vec::new();
            let mut series: Vec<Vec<&str>> = Vec::new();
            let mut open = false;
            let histogram = block
                .lines()
                .any(|l| l.starts_with("# TYPE ") && l.ends_with(" histogram"));
            for line in block.lines() {
                if line.starts_with('#') {
                    head.push(line);
                } else if histogram && open {
                    series.last_mut().expect("open").push(line);
                } else {
                    series.push(vec![line]);
                    open = histogram;
                }
                if histogram && parse_series(line).is_some_and(|s| s.name.ends_with("_count")) {
                    open = false;
                }
            }
            series.sort();
            let name = head
                .first()
                .and_then(|h| h.split_whitespace().nth(2))
                .unwrap_or("");
            let mut out = String::new();
            for line in head.into_iter().chain(series.into_iter().flatten()) {
                out.push_str(line);
                out.push('\n');
            }
            (name, out)
        })
        .collect();
    families.sort();
    let mut out = String::new();
    for (_, family) in families {
        out.push_str(&family);
        out.push('\n');
    }
    out
}

/// A service's metrics, by way of their [`Registry`]: that makes them
/// [`crate::Health`], with nothing more to write.
pub trait HasRegistry: Send + Sync + 'static {
    /// The registry.
    fn registry(&self) -> &Registry;
}

impl HasRegistry for Registry {
    fn registry(&self) -> &Registry {
        self
    }
}

impl<T: HasRegistry> crate::Health for T {
    fn render(&self) -> String {
        self.registry().render()
    }
    fn is_ready(&self) -> bool {
        self.registry().ready.load(Ordering::SeqCst)
    }
    fn upkeep(&self) {
        self.registry().upkeep();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Health;

    const BUCKETS: &[f64] = &[0.01, 0.1, 1.0];

    #[test]
    fn declared_metrics_render_with_help_and_type_at_zero() {
        let registry = Registry::new("moat_test", &[("wait_seconds", BUCKETS)]);
        let hits = registry.counter("hits_total", "Hits");
        let open = registry.gauge("open", "Open now");
        let _wait = registry.histogram("wait_seconds", "Time waited");
        let text = registry.render();
        for line in [
            "# HELP moat_test_hits_total Hits",
            "# TYPE moat_test_hits_total counter",
            "moat_test_hits_total 0",
            "# HELP moat_test_open Open now",
            "# TYPE moat_test_open gauge",
            "moat_test_open 0",
            "# TYPE moat_test_wait_seconds histogram",
            "moat_test_wait_seconds_bucket{le=\"+Inf\"} 0",
            "moat_test_wait_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
        hits.increment(2);
        open.increment(3.0);
        open.decrement(1.0);
        assert_eq!(registry.value("moat_test_hits_total", &[]), 2.0);
        assert_eq!(registry.value("moat_test_open", &[]), 2.0);
        assert!(registry.render().contains("moat_test_hits_total 2\n"));
        assert!(!registry.is_ready());
        registry.set_ready(true);
        assert!(registry.is_ready());
    }

    #[test]
    fn a_family_zeroes_every_combination_and_renders_labels_by_name() {
        let registry = Registry::new("moat_test", &[]);
        let messages = registry
            .counters("messages_total", "Messages", &["stream", "result"])
            .zeroed(&[&["events", "results"], &["applied", "retried"]]);
        let text = registry.render();
        for (stream, result) in [
            ("events", "applied"),
            ("events", "retried"),
            ("results", "applied"),
            ("results", "retried"),
        ] {
            let line =
                format!("moat_test_messages_total{{result=\"{result}\",stream=\"{stream}\"}} 0");
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        let listed = registry
            .counters("pairs_total", "Pairs", &["route", "status"])
            .zeroed_series(&[["submit", "202"], ["events", "101"]]);
        assert!(registry
            .render()
            .contains("moat_test_pairs_total{route=\"events\",status=\"101\"} 0\n"));
        listed.with(&["submit", "202"]).increment(1);
        messages.with(&["events", "applied"]).increment(3);
        // A value outside the fixed sets is a new series, made when counted.
        messages.with(&["events", "odd"]).increment(1);
        let text = registry.render();
        assert!(text.contains("moat_test_messages_total{result=\"applied\",stream=\"events\"} 3\n"));
        assert!(text.contains("moat_test_messages_total{result=\"odd\",stream=\"events\"} 1\n"));
        // Series sorted by labels: stable output, scrape after scrape.
        assert_eq!(text, registry.render());
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let mut by_labels = series.clone();
        by_labels.sort_unstable();
        assert_eq!(series, by_labels);
        let at = |stream, result| {
            registry.value(
                "moat_test_messages_total",
                &[("result", result), ("stream", stream)],
            )
        };
        assert_eq!(at("events", "applied"), 3.0);
        assert_eq!(at("results", "retried"), 0.0);
        // Not yet counted: zero, not an error.
        assert_eq!(at("results", "never"), 0.0);
    }

    #[test]
    fn histograms_keep_their_own_buckets() {
        let registry = Registry::new(
            "moat_test",
            &[("a_seconds", BUCKETS), ("b_seconds", &[5.0])],
        );
        let a = registry
            .histograms("a_seconds", "A", &["step"])
            .zeroed(&[&["create", "start"]]);
        let b = registry.histogram("b_seconds", "B");
        a.with(&["start"]).record(0.05);
        a.with(&["start"])
            .record(std::time::Duration::from_millis(500));
        b.record(7.0);
        let text = registry.render();
        for line in [
            "moat_test_a_seconds_bucket{step=\"create\",le=\"0.01\"} 0",
            "moat_test_a_seconds_bucket{step=\"start\",le=\"0.01\"} 0",
            "moat_test_a_seconds_bucket{step=\"start\",le=\"0.1\"} 1",
            "moat_test_a_seconds_bucket{step=\"start\",le=\"1\"} 2",
            "moat_test_a_seconds_bucket{step=\"start\",le=\"+Inf\"} 2",
            "moat_test_a_seconds_sum{step=\"start\"} 0.55",
            "moat_test_a_seconds_count{step=\"start\"} 2",
            "moat_test_a_seconds_count{step=\"create\"} 0",
            "moat_test_b_seconds_bucket{le=\"5\"} 0",
            "moat_test_b_seconds_bucket{le=\"+Inf\"} 1",
            "moat_test_b_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
        // Each series' lines stay together, first bucket to count.
        let create = text.find("step=\"create\",le=\"0.01\"").expect("create");
        let create_count = text.find("_count{step=\"create\"}").expect("count");
        let start = text.find("step=\"start\",le=\"0.01\"").expect("start");
        assert!(create < create_count && create_count < start, "{text}");
        assert_eq!(
            registry.value("moat_test_a_seconds_count", &[("step", "start")]),
            2.0
        );
        assert_eq!(
            registry.value(
                "moat_test_a_seconds_bucket",
                &[("le", "0.1"), ("step", "start")]
            ),
            1.0
        );
        registry.upkeep();
        assert_eq!(registry.value("moat_test_b_seconds_count", &[]), 1.0);
    }

    #[test]
    fn label_values_are_escaped_and_read_back() {
        let registry = Registry::new("moat_test", &[]);
        let odd = registry.counters("odd_total", "Odd \"labels\", a \\ and\na newline", &["v"]);
        let value = "say \"hi\"\nC:\\dir";
        odd.with(&[value]).increment(1);
        let text = registry.render();
        assert!(
            text.contains(r#"moat_test_odd_total{v="say \"hi\"\nC:\\dir"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# HELP moat_test_odd_total Odd \"labels\", a \\\\ and\\na newline\n"),
            "{text}"
        );
        assert_eq!(registry.value("moat_test_odd_total", &[("v", value)]), 1.0);
    }

    #[test]
    #[should_panic(expected = "declared twice")]
    fn a_name_is_declared_once() {
        let registry = Registry::new("moat_test", &[]);
        let _first = registry.counter("hits_total", "Hits");
        let _again = registry.counter("hits_total", "Hits");
    }

    #[test]
    #[should_panic(expected = "no buckets")]
    fn a_histogram_needs_its_buckets() {
        let _ = Registry::new("moat_test", &[]).histogram("wait_seconds", "Time waited");
    }

    #[test]
    #[should_panic(expected = "no metric")]
    fn reading_an_undeclared_metric_is_a_mistake() {
        Registry::new("moat_test", &[]).value("moat_test_typo_total", &[]);
    }

    #[test]
    fn registries_are_independent() {
        let (a, b) = (Registry::new("moat_a", &[]), Registry::new("moat_b", &[]));
        a.counter("hits_total", "Hits").increment(1);
        let _unused = b.counter("hits_total", "Hits");
        assert!(a.render().contains("moat_a_hits_total 1"));
        assert!(!a.render().contains("moat_b"));
        assert_eq!(b.value("moat_b_hits_total", &[]), 0.0);
    }
}
