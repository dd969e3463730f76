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

use arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue};
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

/// Refuses a call whose output, summed over the batch, would pass the caps.
fn check(size: Size, args: &[ColumnarValue], rows: usize) -> Result<()> {
    match size {
        Size::PadTo => {
            let total = per_row(args, rows, |v| v.get(1).and_then(int).unwrap_or(0).max(0).saturating_mul(4));
            cap(total, MAX_STRING_BYTES, "requested length too large")
        }
        Size::Repeat => {
            let total = per_row(args, rows, |v| {
                let text = v.first().and_then(text_len).unwrap_or(0);
                text.saturating_mul(v.get(1).and_then(int).unwrap_or(0).max(0))
            });
            cap(total, MAX_STRING_BYTES, "requested length too large")
        }
        Size::Series { inclusive } => {
            let total = per_row(args, rows, |v| series_len(v, inclusive));
            let message = format!("array size exceeds the maximum allowed ({MAX_ARRAY_ELEMENTS})");
            cap(total, MAX_ARRAY_ELEMENTS, &message)
        }
    }
}

/// The sum over rows of `size` of each row's argument values (scalars stand for every row).
fn per_row(args: &[ColumnarValue], rows: usize, size: impl Fn(&[ScalarValue]) -> i64) -> i64 {
    let all_scalar = args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { rows };
    let mut total = 0i64;
    for row in 0..rows {
        let values: Vec<ScalarValue> = args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => s.clone(),
                ColumnarValue::Array(array) => ScalarValue::try_from_array(array, row).unwrap_or(ScalarValue::Null),
            })
            .collect();
        total = total.saturating_add(size(&values));
        if total > MAX_STRING_BYTES {
            break;
        }
    }
    total
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

/// An integer argument's value.
fn int(value: &ScalarValue) -> Option<i64> {
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(n) => n,
        _ => None,
    }
}

/// A string argument's length in bytes.
fn text_len(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            i64::try_from(s.len()).ok()
        }
        _ => None,
    }
}

/// How many elements `range(start, stop[, step])` (or the inclusive `generate_series`)
/// yields for integer bounds; 0 when the bounds are not integers (dates and timestamps
/// step by intervals and are not capped here).
fn series_len(values: &[ScalarValue], inclusive: bool) -> i64 {
    let ints: Vec<Option<i64>> = values.iter().map(int).collect();
    let (start, stop, step) = match ints.as_slice() {
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
    use super::*;

    #[test]
    fn series_lengths_follow_postgres() {
        let v = |xs: &[i64]| xs.iter().map(|x| ScalarValue::Int64(Some(*x))).collect::<Vec<_>>();
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
