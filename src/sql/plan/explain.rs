//! EXPLAIN of a planned view: its dataflow as text, one operator per line, the view first
//! and each operator's input indented below it (a join's two inputs one after the other).
//!
//! Part of the view planner (`super`); the engine shows it for `EXPLAIN CREATE MATERIALIZED
//! VIEW` and `sluice_catalog.views`.

use std::fmt::Write as _;

use super::{Chain, Head, JoinNode, Node, StreamDef, ViewPlan};
use crate::dataflow::aggregate::AggregateSpec;
use crate::dataflow::lookup::LookupSpec;
use crate::dataflow::window::WindowKind;

impl ViewPlan {
    /// The dataflow plan as text, top (the view) first; `streams[i]` is input i's stream.
    /// With more than one shard, the exchange where the plan is cut into shards (if it
    /// can be) is shown above the operators before it.
    /// With `shards` > 1, where the plan is cut for shards: an exchange between threads,
    /// or (`across_nodes`, a view of a cluster in stages) a repartition topic.
    pub fn explain(&self, view: &str, streams: &[StreamDef], shards: usize, across_nodes: bool) -> String {
        let mode = if self.keyed { "upsert by group key" } else { "append" };
        let mut lines = vec![(0, format!("Materialize: view={view} mode={mode}"))];
        if across_nodes && shards > 1 && self.partition_parallel() {
            lines.push((0, format!("Shards: {shards}, one per partition, each on the node the cluster gives it")));
        }
        let staged = across_nodes && self.staged();
        let cut = if shards > 1 && (staged || !across_nodes) { self.root.shard_cut() } else { None };
        let exchange = cut.and_then(|at| {
            let key = self.root.nodes.get(at)?.partition_key()?;
            let what = if staged { explain_repartition(&key, shards) } else { explain_exchange(&key, shards) };
            Some((at, what))
        });
        // A join in stages: each side is hashed by its join key into the repartition topic.
        let sends = match (&self.root.head, staged && shards > 1) {
            (Head::Join(join), true) => Some([
                explain_repartition(&join.spec.left_keys, shards),
                explain_repartition(&join.spec.right_keys, shards),
            ]),
            _ => None,
        };
        self.root.explain(1, streams, self.grace, (exchange, sends), &mut lines);
        lines.iter().map(|(depth, l)| format!("{}{l}", "  ".repeat(*depth))).collect::<Vec<_>>().join("\n")
    }
}

impl Chain {
    fn explain(
        &self,
        mut depth: usize,
        streams: &[StreamDef],
        grace: i64,
        (exchange, sends): (Option<(usize, String)>, Option<[String; 2]>),
        lines: &mut Vec<(usize, String)>,
    ) {
        for (i, node) in self.nodes.iter().enumerate().rev() {
            lines.push((depth, explain_node(node)));
            depth += 1;
            if let Some((_, what)) = exchange.as_ref().filter(|(at, _)| *at == i) {
                lines.push((depth, what.clone()));
                depth += 1;
            }
        }
        match &self.head {
            Head::Input(i) => match streams.get(*i) {
                Some(source) => lines.push((depth, explain_source(source, grace))),
                None => lines.push((depth, format!("Source: input {i}"))),
            },
            Head::Join(join) => {
                lines.push((depth, explain_join(join)));
                for (i, side) in [&join.left, &join.right].into_iter().enumerate() {
                    let mut depth = depth + 1;
                    if let Some(send) = sends.as_ref().map(|s| s[i].clone()) {
                        lines.push((depth, send));
                        depth += 1;
                    }
                    side.explain(depth, streams, grace, (None, None), lines);
                }
            }
        }
    }
}

/// The line of the exchange that splits rows among `shards` shards by `key`.
type Key = [std::sync::Arc<dyn datafusion::physical_plan::PhysicalExpr>];

pub(super) fn explain_exchange(key: &Key, shards: usize) -> String {
    format!("Exchange: {} into {shards} shards", hash_of(key))
}

pub(super) fn explain_repartition(key: &Key, shards: usize) -> String {
    format!("Repartition: {} into {shards} shards through the repartition topic", hash_of(key))
}

fn hash_of(key: &Key) -> String {
    let shown: Vec<String> = key.iter().map(|e| e.to_string()).collect();
    format!("hash({})", shown.join(", "))
}

pub(super) fn explain_node(node: &Node) -> String {
    match node {
        Node::Window(WindowKind::Tumble { size }, time, input) => {
            format!("Window: tumble size={} time={}", millis_text(*size), input.field(*time).name())
        }
        Node::Window(WindowKind::Cumulate { step, size }, time, input) => format!(
            "Window: cumulate step={} size={} time={}",
            millis_text(*step),
            millis_text(*size),
            input.field(*time).name()
        ),
        Node::Window(WindowKind::Session { gap }, time, input) => {
            format!("Window: session gap={} time={}", millis_text(*gap), input.field(*time).name())
        }
        Node::Window(WindowKind::Hop { slide, size }, time, input) => format!(
            "Window: hop slide={} size={} time={}",
            millis_text(*slide),
            millis_text(*size),
            input.field(*time).name()
        ),
        Node::Filter(p) => format!("Filter: {p}"),
        Node::Project(exprs, schema) => {
            let items: Vec<String> =
                exprs.iter().zip(schema.fields()).map(|(e, f)| format!("{e} AS {}", f.name())).collect();
            format!("Project: {}", items.join(", "))
        }
        Node::Aggregate(spec) => explain_aggregate(spec),
        Node::Session(spec) => {
            let groups = spec.aggregate.group_exprs.iter().map(|e| e.to_string()).collect::<Vec<_>>();
            let aggs = spec.aggregate.aggregates.iter().map(|a| a.name().to_string()).collect::<Vec<_>>();
            format!(
                "SessionAggregate: group=[{}] aggregates=[{}] gap={} emit={}",
                groups.join(", "),
                aggs.join(", "),
                millis_text(spec.gap),
                if spec.aggregate.emit_on_close { "on window close" } else { "on update" }
            )
        }
        Node::Reaggregate(spec) => {
            let groups: Vec<String> = spec.group_exprs.iter().map(|e| e.to_string()).collect();
            let aggs: Vec<String> = spec.aggregates.iter().map(|a| a.name().to_string()).collect();
            format!(
                "Reaggregate: group=[{}] aggregates=[{}] input=updating state=input rows by key emit=on update",
                groups.join(", "),
                aggs.join(", ")
            )
        }
        Node::Lookup(spec) => explain_lookup(spec),
        Node::TopN(spec) => super::topn::explain(spec),
    }
}

fn explain_source(source: &StreamDef, grace: i64) -> String {
    let connector = source.options.get("connector").map(String::as_str).unwrap_or("?");
    let mut src = format!("Source: stream={} connector={connector}", source.name);
    if let Some(w) = &source.watermark {
        let _ = write!(src, " watermark={} - {}", source.schema.field(w.column).name(), millis_text(w.delay));
        if grace > 0 {
            let _ = write!(src, " grace={}", millis_text(grace));
        }
    }
    src
}

pub(super) fn explain_join(join: &JoinNode) -> String {
    let spec = &join.spec;
    let keys: Vec<String> = spec.left_keys.iter().zip(&spec.right_keys).map(|(l, r)| format!("{l} = {r}")).collect();
    let mut s = format!("StreamJoin: kind=inner keys=[{}]", keys.join(", "));
    match &spec.bounds {
        Some(b) => {
            let name = |i: usize| spec.schema.field(i).name().clone();
            let (left, right) = (name(b.left_time), name(join.left_width + b.right_time));
            let _ = write!(
                s,
                " time=[right.{right} - left.{left} between {} and {}] state=expires with watermarks",
                millis_text(b.lower),
                millis_text(b.upper)
            );
        }
        None => s.push_str(" state=unbounded"),
    }
    if let Some(f) = &spec.filter {
        let _ = write!(s, " filter={f}");
    }
    s
}

fn explain_aggregate(spec: &AggregateSpec) -> String {
    let groups: Vec<String> = spec.group_exprs.iter().map(|e| e.to_string()).collect();
    let aggs: Vec<String> = spec.aggregates.iter().map(|a| a.name().to_string()).collect();
    let mut s = format!("Aggregate: group=[{}] aggregates=[{}]", groups.join(", "), aggs.join(", "));
    match &spec.window {
        Some(w) => {
            let _ = write!(s, " window={}", groups[w.group_index]);
            s.push_str(if spec.emit_on_close { " emit=on window close" } else { " emit=on update" });
        }
        None => s.push_str(" emit=on update"),
    }
    s
}

fn explain_lookup(spec: &LookupSpec) -> String {
    let keys: Vec<String> = spec.keys.iter().map(|k| k.to_string()).collect();
    let kind = if spec.keep_unmatched { "left" } else { "inner" };
    format!("LookupJoin: table={} key=[{}] kind={kind}", spec.table, keys.join(", "))
}

pub(super) fn millis_text(ms: i64) -> String {
    if ms % 1000 == 0 { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}
