//! Caps on the size of single values that functions build: `lpad('x', 2147483647)` or
//! `generate_series(1, 1e10)` in a select list would otherwise try to allocate gigabytes
//! at once, and a failed allocation aborts the process. DataFusion's memory pool does not
//! see these allocations, so each function checks its arguments before it runs.
//!
//! `Engine::open` calls [`register`], which wraps DataFusion's `lpad`, `rpad`, `repeat`,
//! `range` and `generate_series` in [`Capped`]; everything but the check is the wrapped
//! function's. Like Postgres, a string over [`MAX_STRING_BYTES`] fails with "requested
//! length too large" and an array over [`MAX_ARRAY_ELEMENTS`] with "array size exceeds
//! the maximum allowed", both 54000; the same caps bound one batch's total.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Array};
use arrow::datatypes::{DataType, FieldRef, Int64Type};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

use crate::error::Error;

/// The longest string a function may build, as Postgres' 1 GB limit on one value.
pub(crate) const MAX_STRING_BYTES: i64 = (1 << 30) - 1;
/// The most elements an array may have, as Postgres' `MaxArraySize`.
pub(crate) const MAX_ARRAY_ELEMENTS: i64 = (1 << 27) - 1;

/// How a function's output size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Size {
    /// `lpad` / `rpad`: the second argument is the length in characters (up to 4 bytes).
    PadTo,
    /// `repeat`: the first argument's length times the second.
    Repeat,
    /// `range` / `generate_series`: integer bounds and an optional step.
    Series { inclusive: bool },
}

/// Wraps the functions whose output size the caller chooses.
pub(super) fn register(ctx: &SessionContext) {
    let capped = [
        ("lpad", Size::PadTo),
        ("rpad", Size::PadTo),
        ("repeat", Size::Repeat),
        ("range", Size::Series { inclusive: false }),
        ("generate_series", Size::Series { inclusive: true }),
    ];
    for (name, size) in capped {
        if let Some(inner) = ctx.state().scalar_functions().get(name).cloned() {
            ctx.register_udf(ScalarUDF::new_from_impl(Capped { inner, size }));
        }
    }
}

/// A function that checks the size of what it would build before building it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Capped {
    inner: Arc<ScalarUDF>,
    size: Size,
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        check(self.size, &args.args, args.number_rows)?;
        self.inner.invoke_with_args(args)
    }
}

/// Refuses a call whose output, summed over the batch, would pass the caps. Works on the
/// argument columns as a whole; scalars stand for every row, once.
fn check(size: Size, args: &[ColumnarValue], rows: usize) -> Result<()> {
    let rows = if args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_))) { 1 } else { rows };
    match size {
        Size::PadTo => {
            let lengths = int_column(args.get(1), rows)?;
            let total = lengths.iter().flatten().fold(0i64, |sum, n| sum.saturating_add(n.max(0).saturating_mul(4)));
            cap(total, MAX_STRING_BYTES, "requested length too large")
        }
        Size::Repeat => {
            let (texts, counts) = (byte_lengths(args.first(), rows)?, int_column(args.get(1), rows)?);
            let total = texts.iter().zip(counts.iter()).fold(0i64, |sum, (text, n)| {
                sum.saturating_add(text.unwrap_or(0).saturating_mul(n.unwrap_or(0).max(0)))
            });
            cap(total, MAX_STRING_BYTES, "requested length too large")
        }
        Size::Series { inclusive } => {
            let bounds = args.iter().map(|a| int_column(Some(a), rows)).collect::<Result<Vec<_>>>()?;
            let total = (0..rows).fold(0i64, |sum, row| {
                let values: [Option<i64>; 3] =
                    std::array::from_fn(|i| bounds.get(i).and_then(|c| c.is_valid(row).then(|| c.value(row))));
                sum.saturating_add(series_len(&values[..bounds.len().min(3)], inclusive))
            });
            let message = format!("array size exceeds the maximum allowed ({MAX_ARRAY_ELEMENTS})");
            cap(total, MAX_ARRAY_ELEMENTS, &message)
        }
    }
}

/// `arg` as `rows` Int64 values; all NULL when it is missing or not a number (dates and
/// timestamps, which these checks leave alone).
fn int_column(arg: Option<&ColumnarValue>, rows: usize) -> Result<Int64Array> {
    let Some(arg) = arg else { return Ok(Int64Array::new_null(rows)) };
    let array = arg.to_array(rows)?;
    match arrow::compute::cast(&array, &DataType::Int64) {
        Ok(ints) => Ok(ints.as_primitive::<Int64Type>().clone()),
        Err(_) => Ok(Int64Array::new_null(rows)),
    }
}

/// The byte length of each of `rows` strings of `arg` (NULL where it is not a string).
fn byte_lengths(arg: Option<&ColumnarValue>, rows: usize) -> Result<Int64Array> {
    let Some(arg) = arg else { return Ok(Int64Array::new_null(rows)) };
    match arrow::compute::kernels::length::length(&arg.to_array(rows)?) {
        Ok(lengths) => int_column(Some(&ColumnarValue::Array(lengths)), rows),
        Err(_) => Ok(Int64Array::new_null(rows)),
    }
}

fn cap(total: i64, max: i64, message: &str) -> Result<()> {
    if total <= max {
        return Ok(());
    }
    Err(DataFusionError::External(Box::new(Error::ProgramLimit {
        message: message.to_string(),
        hint: format!("One value may hold at most {max} bytes or elements; ask for less, or split the work."),
    })))
}

/// How many elements `range(start, stop[, step])` (or the inclusive `generate_series`)
/// yields for integer bounds; 0 when a bound is missing.
fn series_len(values: &[Option<i64>], inclusive: bool) -> i64 {
    let (start, stop, step) = match values {
        [Some(stop)] => (0, *stop, 1),
        [Some(start), Some(stop)] => (*start, *stop, 1),
        [Some(start), Some(stop), Some(step)] if *step != 0 => (*start, *stop, *step),
        _ => return 0,
    };
    let span = i128::from(stop) - i128::from(start);
    if span != 0 && (span > 0) != (step > 0) {
        return 0;
    }
    let count = span / i128::from(step) + i128::from(inclusive || span % i128::from(step) != 0);
    i64::try_from(count.max(0)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;

    use super::*;

    #[test]
    fn series_lengths_follow_postgres() {
        let v = |xs: &[i64]| xs.iter().map(|x| Some(*x)).collect::<Vec<_>>();
        assert_eq!(series_len(&v(&[1, 10]), true), 10);
        assert_eq!(series_len(&v(&[1, 10]), false), 9);
        assert_eq!(series_len(&v(&[1, 10, 3]), true), 4);
        assert_eq!(series_len(&v(&[10, 1, -1]), true), 10);
        assert_eq!(series_len(&v(&[10, 1]), true), 0);
        assert_eq!(series_len(&v(&[1, 10_000_000_000]), true), 10_000_000_000);
    }

    #[test]
    fn caps_count_the_whole_batch() {
        let lengths = ColumnarValue::Array(Arc::new(arrow::array::Int64Array::from(vec![1 << 20; 2_000])));
        let text = ColumnarValue::Scalar(ScalarValue::Utf8(Some("x".into())));
        let err = check(Size::PadTo, &[text.clone(), lengths], 2_000).expect_err("2000 MiB of padding");
        assert!(err.to_string().contains("requested length too large"), "{err}");
        let small = ColumnarValue::Array(Arc::new(arrow::array::Int64Array::from(vec![10; 2_000])));
        assert!(check(Size::PadTo, &[text, small], 2_000).is_ok());
    }
}
