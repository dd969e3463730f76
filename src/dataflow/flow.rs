//! The shape of a pipeline's operators: a [`Flow`] is a chain of operators that starts at
//! one source input or at a binary operator (a join) over two flows.
//!
//! The operator thread of a pipeline ([`super::pipeline`]) pushes every message from the
//! source stage into its flow: rows and watermarks go down the branch that reads their
//! input; barriers and the end go down every branch, left before right, and a binary
//! operator sees each of them once, after both branches have passed it on, so its state and
//! everything upstream of it are in the same checkpoint. Operators are numbered for their
//! state in the same order (left branch, right branch, the binary operator, then the
//! chain), which for a plain chain is simply its order. Each operator also has a stable id
//! derived from the plan (`super::identity`), which the pipeline checks against the ids
//! stored with the state before the state is read.

use super::identity::{MANIFEST_SLOT, OperatorId};
use super::{Message, Operator, StateReader};
use crate::error::{Error, Result};
use crate::state::Store;

/// Which input of a binary operator a message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first (left) input.
    Left,
    /// The second (right) input.
    Right,
}

/// A step with two inputs. Like [`Operator`], it must pass on watermarks (its own, derived
/// from both inputs), barriers and the end.
pub trait BinaryOperator: Send {
    /// Restores state, as [`Operator::open`].
    fn open(&mut self, _state: &StateReader<'_>) -> Result<()> {
        Ok(())
    }

    /// Handles one message from `side`; barriers and the end arrive once, as `Side::Left`.
    fn process(&mut self, side: Side, msg: Message, out: &mut Vec<Message>) -> Result<()>;

    /// Bytes of memory its state holds, as [`Operator::state_bytes`].
    fn state_bytes(&self) -> usize {
        0
    }
}

/// Where a flow starts.
enum Head {
    Input(usize),
    Join { op: Box<dyn BinaryOperator>, what: String, left: Box<Flow>, right: Box<Flow> },
}

/// A chain of operators after a source input or a binary operator. Each operator has a
/// stable id ([`OperatorId`]) derived from its description and its input's id.
pub struct Flow {
    head: Head,
    /// The id of what the head produces: the source input or the binary operator.
    head_id: OperatorId,
    ops: Vec<Step>,
}

/// One operator of a chain.
struct Step {
    id: OperatorId,
    /// What it computes, as EXPLAIN shows it.
    what: String,
    op: Box<dyn Operator>,
}

impl Flow {
    /// A flow that starts at source input `input`, which reads `stream`; operators follow
    /// with [`Flow::then`].
    pub fn input(input: usize, stream: &str) -> Flow {
        Flow { head: Head::Input(input), head_id: OperatorId::source(input, stream), ops: Vec::new() }
    }

    /// A flow that continues after operator `id` of another flow, reading what it sends as
    /// input 0: a shard's operators after the exchange, or what follows the shards.
    pub fn after(id: OperatorId) -> Flow {
        Flow { head: Head::Input(0), head_id: id, ops: Vec::new() }
    }

    /// A flow that starts at `op` (described by `what`) over `left` and `right`.
    pub fn join(op: Box<dyn BinaryOperator>, what: String, left: Flow, right: Flow) -> Flow {
        let head_id = OperatorId::derive(&[left.last_id(), right.last_id()], &what);
        Flow { head: Head::Join { op, what, left: Box::new(left), right: Box::new(right) }, head_id, ops: Vec::new() }
    }

    /// Appends operator `op`, described by `what` (its line of EXPLAIN).
    pub fn then(mut self, what: impl Into<String>, op: Box<dyn Operator>) -> Flow {
        let what = what.into();
        let id = OperatorId::derive(&[self.last_id()], &what);
        self.ops.push(Step { id, what, op });
        self
    }

    /// The id of the last operator (or of the head, if there is none).
    pub fn last_id(&self) -> OperatorId {
        self.ops.last().map_or(self.head_id, |s| s.id)
    }

    /// Every operator's id and description, in the order their state is numbered.
    pub fn operators(&self) -> Vec<(OperatorId, String)> {
        let mut out = Vec::new();
        self.collect_operators(&mut out);
        out
    }

    fn collect_operators(&self, out: &mut Vec<(OperatorId, String)>) {
        if let Head::Join { what, left, right, .. } = &self.head {
            left.collect_operators(out);
            right.collect_operators(out);
            out.push((self.head_id, what.clone()));
        }
        out.extend(self.ops.iter().map(|s| (s.id, s.what.clone())));
    }

    /// Restores every operator's state, numbering them from `next` (the source stage is 0),
    /// in the order of [`Flow::operators`].
    pub fn open(&mut self, store: &Store, view: u64, next: &mut u8) -> Result<()> {
        self.open_shard(store, view, next, None)
    }

    /// [`Flow::open`] for the operators of one shard, whose state keys start with `shard`.
    pub fn open_shard(&mut self, store: &Store, view: u64, next: &mut u8, shard: Option<u16>) -> Result<()> {
        if let Head::Join { op, left, right, .. } = &mut self.head {
            left.open_shard(store, view, next, shard)?;
            right.open_shard(store, view, next, shard)?;
            op.open(&StateReader { store, view, operator: number(next)?, shard })?;
        }
        for step in &mut self.ops {
            step.op.open(&StateReader { store, view, operator: number(next)?, shard })?;
        }
        Ok(())
    }

    /// Bytes of memory the state of every operator of the flow holds.
    pub fn state_bytes(&self) -> usize {
        let head = match &self.head {
            Head::Input(_) => 0,
            Head::Join { op, left, right, .. } => op.state_bytes() + left.state_bytes() + right.state_bytes(),
        };
        head + self.ops.iter().map(|s| s.op.state_bytes()).sum::<usize>()
    }

    /// Whether source input `input` feeds this flow.
    fn reads(&self, input: usize) -> bool {
        match &self.head {
            Head::Input(i) => *i == input,
            Head::Join { left, right, .. } => left.reads(input) || right.reads(input),
        }
    }

    /// Pushes a message from source input `input` through the flow; what leaves its last
    /// operator is appended to `out`. Barriers and the end go to [`Flow::broadcast`].
    pub fn push(&mut self, input: usize, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        if matches!(msg, Message::Barrier(_) | Message::End) {
            return self.broadcast(msg, out);
        }
        let mut current = Vec::new();
        match &mut self.head {
            Head::Input(i) if *i == input => current.push(msg),
            Head::Input(_) => return Ok(()),
            Head::Join { op, left, right, .. } => {
                let (side, branch) = if left.reads(input) { (Side::Left, left) } else { (Side::Right, right) };
                let mut mid = Vec::new();
                branch.push(input, msg, &mut mid)?;
                for m in mid {
                    op.process(side, m, &mut current)?;
                }
            }
        }
        self.run_chain(current, out)
    }

    /// Sends a barrier or the end through every branch, then the binary operator, then the
    /// chain.
    fn broadcast(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
        let mut current = Vec::new();
        match &mut self.head {
            Head::Input(_) => current.push(msg),
            Head::Join { op, left, right, .. } => {
                let mut carried = msg;
                for (side, branch) in [(Side::Left, left), (Side::Right, right)] {
                    let mut mid = Vec::new();
                    branch.broadcast(carried, &mut mid)?;
                    let at = mid.iter().position(|m| matches!(m, Message::Barrier(_) | Message::End));
                    let at = at.ok_or_else(|| Error::Internal("an operator swallowed a barrier".into()))?;
                    let after = mid.split_off(at + 1);
                    carried = mid.pop().ok_or_else(|| Error::Internal("barrier vanished".into()))?;
                    for m in mid.into_iter().chain(after) {
                        op.process(side, m, &mut current)?;
                    }
                }
                op.process(Side::Left, carried, &mut current)?;
            }
        }
        self.run_chain(current, out)
    }

    fn run_chain(&mut self, mut current: Vec<Message>, out: &mut Vec<Message>) -> Result<()> {
        let mut next = Vec::new();
        for step in &mut self.ops {
            for msg in current.drain(..) {
                step.op.process(msg, &mut next)?;
            }
            std::mem::swap(&mut current, &mut next);
        }
        out.append(&mut current);
        Ok(())
    }
}

/// The next operator number (below the manifest's slot).
fn number(next: &mut u8) -> Result<u8> {
    let n = *next;
    if n == MANIFEST_SLOT {
        return Err(Error::Unsupported("a view needs too many operators".into()));
    }
    *next = n + 1;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::Barrier;

    /// Records what it sees and passes everything on.
    struct Tap(&'static str, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl Operator for Tap {
        fn process(&mut self, msg: Message, out: &mut Vec<Message>) -> Result<()> {
            self.1.lock().unwrap().push(format!("{}:{}", self.0, describe(&msg)));
            out.push(msg);
            Ok(())
        }
    }

    struct Both(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl BinaryOperator for Both {
        fn process(&mut self, side: Side, msg: Message, out: &mut Vec<Message>) -> Result<()> {
            self.0.lock().unwrap().push(format!("join {side:?}:{}", describe(&msg)));
            out.push(msg);
            Ok(())
        }
    }

    fn describe(msg: &Message) -> String {
        match msg {
            Message::Watermark(w) => format!("wm{w}"),
            Message::Barrier(b) => format!("barrier{}", b.epoch),
            Message::End => "end".into(),
            _ => "rows".into(),
        }
    }

    #[test]
    fn messages_follow_their_input_and_barriers_reach_every_operator_once() {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tap = |name| Box::new(Tap(name, log.clone())) as Box<dyn Operator>;
        let left = Flow::input(0, "l").then("a", tap("a"));
        let right = Flow::input(1, "r").then("b", tap("b"));
        let mut flow = Flow::join(Box::new(Both(log.clone())), "both".into(), left, right).then("c", tap("c"));
        let order: Vec<String> = flow.operators().into_iter().map(|(_, what)| what).collect();
        assert_eq!(order, ["a", "b", "both", "c"], "the order state is numbered in");
        let mut out = Vec::new();
        flow.push(1, Message::Watermark(5), &mut out).unwrap();
        flow.push(0, Message::Barrier(Barrier::new(1, vec![])), &mut out).unwrap();
        assert_eq!(
            *log.lock().unwrap(),
            ["b:wm5", "join Right:wm5", "c:wm5", "a:barrier1", "b:barrier1", "join Left:barrier1", "c:barrier1"]
        );
        assert_eq!(out.len(), 2);
    }
}
