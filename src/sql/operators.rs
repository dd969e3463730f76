//! Operators that DataFusion runs otherwise than Postgres.
//!
//! Arithmetic that fails where Postgres's fails. DataFusion's integer `+`, `-` and `*`
//! wrap around on overflow (`9223372036854775807::bigint + 1` is a negative number) and
//! its float arithmetic gives `Infinity` for an overflow or a division by zero; Postgres
//! refuses all of them: `bigint out of range` (22003), `value out of range: overflow`
//! (22003), `division by zero` (22012).
//!
//! Integer division needs nothing: Arrow's kernel already fails on a zero divisor and on
//! `MIN / -1`.
//!
//! Interval comparisons: Arrow compares intervals field by field (months, then days, then
//! nanoseconds), so `interval '1 day' = interval '24 hours'` is false and a timestamp
//! difference of 22 days (a duration, cast to an interval of 0 days) is not more than
//! `interval '7 days'`. Postgres compares their lengths, a month counting 30 days and a
//! day 24 hours; [`Span`] computes that length.
//!
//! [`PostgresOperators`] is an analyzer rule, installed by `sql::semantics::register` after
//! DataFusion's type coercion, so it sees both operands of an operation in one type. It
//! replaces such an operation by a call of [`Checked`], which runs Arrow's checked
//! kernels on integers and checks the results of float operations, and compares the
//! [`Span`]s of intervals. Constant folding tries the calls at planning time and keeps
//! them when they fail, so the error comes when the query runs, as in Postgres.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Datum, Decimal128Array, Decimal128Builder};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{DataType, Float32Type, Float64Type, IntervalMonthDayNanoType, IntervalUnit};
use arrow::datatypes::{Decimal128Type, Field, FieldRef, i256};
use arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, ExprSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;

use crate::error::Error;

/// Replaces the operations DataFusion runs otherwise than Postgres (module doc).
#[derive(Debug, Default)]
pub struct PostgresOperators;

impl AnalyzerRule for PostgresOperators {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let schema = input_schema(&node)?;
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let saved = names.save(&expr);
                let rewritten = expr.transform_up(|e| postgres_operator(e, &schema))?;
                Ok(if rewritten.transformed { rewritten.update_data(|e| saved.restore(e)) } else { rewritten })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "sluice_postgres_operators"
    }
}

/// The columns a node's expressions may name: its inputs', and a scan's table's.
fn input_schema(node: &LogicalPlan) -> Result<DFSchema> {
    let mut schema = merge_schema(&node.inputs());
    if let LogicalPlan::TableScan(scan) = node {
        schema.merge(&DFSchema::try_from_qualified_schema(scan.table_name.clone(), &scan.source.schema())?);
    }
    Ok(schema)
}

/// `expr` as Postgres runs it, when DataFusion runs it otherwise.
fn postgres_operator(expr: Expr, schema: &dyn ExprSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else { return Ok(Transformed::no(expr)) };
    let (Ok(left_type), Ok(right_type)) = (type_of(left, schema), type_of(right, schema)) else {
        return Ok(Transformed::no(expr));
    };
    let operands = (left.as_ref(), right.as_ref());
    let types = (&left_type, &right_type);
    let rewritten = interval_comparison(operands, *op, types)
        .or_else(|| numeric_division(operands, *op, types))
        .or_else(|| checked_operation(operands, *op, types));
    Ok(match rewritten {
        Some(e) => Transformed::yes(e),
        None => Transformed::no(expr),
    })
}

/// Two intervals compared by their [`Span`]s.
fn interval_comparison((left, right): (&Expr, &Expr), op: Operator, types: (&DataType, &DataType)) -> Option<Expr> {
    let interval = DataType::Interval(IntervalUnit::MonthDayNano);
    let comparison =
        matches!(op, Operator::Eq | Operator::NotEq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq);
    if !comparison || types.0 != &interval || types.1 != &interval {
        return None;
    }
    let span = |e: &Expr| {
        let udf = Arc::new(ScalarUDF::new_from_impl(Span::new()));
        Box::new(Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![e.clone()])))
    };
    Some(Expr::BinaryExpr(BinaryExpr::new(span(left), op, span(right))))
}

/// A division of two decimals as a [`NumericDiv`].
fn numeric_division((left, right): (&Expr, &Expr), op: Operator, types: (&DataType, &DataType)) -> Option<Expr> {
    match (op, types) {
        (Operator::Divide, (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2))) => {
            Some(numeric_div(left.clone(), right.clone(), *s1, *s2, QUOTIENT_SCALE))
        }
        _ => None,
    }
}

/// Integer `+`, `-`, `*` and float `+`, `-`, `*`, `/` as a [`Checked`] call.
fn checked_operation((left, right): (&Expr, &Expr), op: Operator, types: (&DataType, &DataType)) -> Option<Expr> {
    let kind = Kind::of(types.0).filter(|_| types.0 == types.1)?;
    let checks = matches!(
        (kind, op),
        (_, Operator::Plus | Operator::Minus | Operator::Multiply) | (Kind::Float, Operator::Divide)
    );
    if !checks {
        return None;
    }
    let udf = Arc::new(ScalarUDF::new_from_impl(Checked::new(op, types.0.clone())));
    Some(Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![left.clone(), right.clone()])))
}

/// `numeric / numeric` with Postgres's digits. Arrow divides decimals to the dividend's
/// scale plus 4 and truncates (`1 / 3::numeric` is `0.3333`); Postgres chooses the scale
/// of each quotient from its size, 16 significant digits at least (`0.33333333333333333333`
/// but `3.3333333333333333`), never fewer than either operand's scale, and rounds. An
/// Arrow column has one scale, so the quotient is computed rounded to [`QUOTIENT_SCALE`]
/// digits (or more if an operand has more) and marked (`sql::types::QUOTIENT`) with the
/// operands' scale; the server shows each value with Postgres's scale for it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct NumericDiv {
    /// The operands' scales.
    scales: (i8, i8),
    /// The scale quotients are computed to.
    scale: i8,
    signature: Signature,
}

/// The scale quotients are computed to: Postgres's for quotients between 0.0001 and 1.
pub const QUOTIENT_SCALE: i8 = 20;

impl NumericDiv {
    /// A division of operands of scales `s1` and `s2`, to `scale` digits (at least theirs).
    fn new(s1: i8, s2: i8, scale: i8) -> NumericDiv {
        let scale = scale.max(s1).max(s2).min(38);
        NumericDiv { scales: (s1, s2), scale, signature: Signature::any(2, Volatility::Immutable) }
    }

    /// The scale of the result column.
    fn scale(&self) -> i8 {
        self.scale
    }

    /// `left / right` rounded half away from zero to [`Self::scale`] digits.
    fn divide(&self, left: &ArrayRef, right: &ArrayRef) -> Result<Decimal128Array> {
        let (l, r) = (left.as_primitive::<Decimal128Type>(), right.as_primitive::<Decimal128Type>());
        // left * 10^shift / right has the result's scale.
        let shift = i32::from(self.scale()) - i32::from(self.scales.0) + i32::from(self.scales.1);
        let ten = i256::from_i128(10);
        let mut out = Decimal128Builder::with_capacity(l.len());
        for i in 0..l.len() {
            if l.is_null(i) || r.is_null(i) {
                out.append_null();
                continue;
            }
            let divisor = i256::from_i128(r.value(i));
            if divisor == i256::ZERO {
                return Err(DataFusionError::External(Box::new(Error::DivisionByZero)));
            }
            let (mut dividend, mut divisor) = (i256::from_i128(l.value(i)), divisor);
            for _ in 0..shift.max(0) {
                dividend = dividend.checked_mul(ten).ok_or_else(numeric_overflow)?;
            }
            for _ in 0..(-shift).max(0) {
                divisor = divisor.checked_mul(ten).ok_or_else(numeric_overflow)?;
            }
            let (quotient, remainder) = (dividend / divisor, dividend % divisor);
            let twice = remainder.wrapping_abs().checked_mul(i256::from_i128(2)).ok_or_else(numeric_overflow)?;
            let away = if twice >= divisor.wrapping_abs() { i256::from_i128(1) } else { i256::ZERO };
            let negative = (dividend < i256::ZERO) != (divisor < i256::ZERO);
            let rounded = if negative { quotient - away } else { quotient + away };
            let value = rounded.to_i128().filter(|v| v.unsigned_abs() < 10u128.pow(38)).ok_or_else(numeric_overflow)?;
            out.append_value(value);
        }
        Ok(out.finish().with_precision_and_scale(38, self.scale())?)
    }
}

/// `left / right` for decimals of scales `s1` and `s2`, with Postgres's digits, computed
/// to `scale` digits (a quotient that may need more than 18 digits before the point needs
/// fewer after it than [`QUOTIENT_SCALE`]).
pub(crate) fn numeric_div(left: Expr, right: Expr, s1: i8, s2: i8, scale: i8) -> Expr {
    let udf = Arc::new(ScalarUDF::new_from_impl(NumericDiv::new(s1, s2, scale)));
    Expr::ScalarFunction(ScalarFunction::new_udf(udf, vec![left, right]))
}

/// Postgres's error for a numeric value too large for its column.
fn numeric_overflow() -> DataFusionError {
    DataFusionError::External(Box::new(Error::OutOfRange("numeric field overflow".into())))
}

impl ScalarUDFImpl for NumericDiv {
    fn name(&self) -> &str {
        "numeric_div"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, self.scale()))
    }

    fn return_field_from_args(&self, _args: ReturnFieldArgs) -> Result<FieldRef> {
        let field = Field::new(self.name(), DataType::Decimal128(38, self.scale()), true);
        Ok(Arc::new(super::types::quotient(field, self.scales.0.max(self.scales.1))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return Err(DataFusionError::Internal("numeric_div takes two arguments".into()));
        };
        let scalars = matches!((left, right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let rows = if scalars { 1 } else { args.number_rows };
        let result: ArrayRef = Arc::new(self.divide(&left.to_array(rows)?, &right.to_array(rows)?)?);
        if scalars {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// The length of an interval in nanoseconds, a month counting 30 days and a day 24
/// hours, as Postgres compares intervals (`interval_cmp_value`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Span {
    signature: Signature,
}

/// Nanoseconds in a day and in a month of 30 days.
const DAY_NANOS: i128 = 86_400 * 1_000_000_000;
const MONTH_NANOS: i128 = 30 * DAY_NANOS;

impl Span {
    fn new() -> Span {
        let interval = DataType::Interval(IntervalUnit::MonthDayNano);
        Span { signature: Signature::exact(vec![interval], Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for Span {
    fn name(&self) -> &str {
        "interval_span"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Decimal128(38, 0))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [value] = args.args.as_slice() else {
            return Err(DataFusionError::Internal("interval_span takes one argument".into()));
        };
        let scalar = matches!(value, ColumnarValue::Scalar(_));
        let intervals = value.to_array(if scalar { 1 } else { args.number_rows })?;
        let spans: Decimal128Array = intervals
            .as_primitive::<IntervalMonthDayNanoType>()
            .unary(|i| i128::from(i.months) * MONTH_NANOS + i128::from(i.days) * DAY_NANOS + i128::from(i.nanoseconds));
        let spans: ArrayRef = Arc::new(spans.with_precision_and_scale(38, 0)?);
        if scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&spans, 0)?))
        } else {
            Ok(ColumnarValue::Array(spans))
        }
    }
}

/// The type of `expr`, read off the functions of this module without walking their
/// arguments again: a chain of 2,000 additions would otherwise take 2,000² steps.
fn type_of(expr: &Expr, schema: &dyn ExprSchema) -> Result<DataType> {
    if let Expr::ScalarFunction(call) = expr {
        let inner = call.func.inner();
        if let Some(checked) = inner.downcast_ref::<Checked>() {
            return Ok(checked.data_type.clone());
        }
        if let Some(div) = inner.downcast_ref::<NumericDiv>() {
            return Ok(DataType::Decimal128(38, div.scale()));
        }
    }
    expr.get_type(schema)
}

/// The operand types [`Checked`] handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
}

impl Kind {
    fn of(data_type: &DataType) -> Option<Kind> {
        match data_type {
            DataType::Int16 | DataType::Int32 | DataType::Int64 => Some(Kind::Integer),
            DataType::Float32 | DataType::Float64 => Some(Kind::Float),
            _ => None,
        }
    }
}

/// `left op right` on two operands of one integer or float type, failing as Postgres.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Checked {
    op: Operator,
    data_type: DataType,
    name: String,
    signature: Signature,
}

impl Checked {
    fn new(op: Operator, data_type: DataType) -> Checked {
        let name = match op {
            Operator::Plus => "checked_add",
            Operator::Minus => "checked_sub",
            Operator::Multiply => "checked_mul",
            _ => "checked_div",
        };
        let signature = Signature::exact(vec![data_type.clone(), data_type.clone()], Volatility::Immutable);
        Checked { op, data_type, name: name.into(), signature }
    }

    /// Postgres's message for a result out of this type's range.
    fn out_of_range(&self) -> DataFusionError {
        let message = match self.data_type {
            DataType::Int16 => "smallint out of range",
            DataType::Int32 => "integer out of range",
            DataType::Int64 => "bigint out of range",
            _ => "value out of range: overflow",
        };
        DataFusionError::External(Box::new(Error::OutOfRange(message.into())))
    }

    fn apply(&self, left: &ColumnarValue, right: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
        if Kind::of(&self.data_type) == Some(Kind::Float) {
            return self.float(&left.to_array(rows)?, &right.to_array(rows)?);
        }
        let (left, right) = (datum(left)?, datum(right)?);
        let result = match self.op {
            Operator::Plus => numeric::add(left.as_ref(), right.as_ref()),
            Operator::Minus => numeric::sub(left.as_ref(), right.as_ref()),
            _ => numeric::mul(left.as_ref(), right.as_ref()),
        };
        result.map_err(|e| match e {
            ArrowError::ArithmeticOverflow(_) => self.out_of_range(),
            other => other.into(),
        })
    }

    /// A float operation, refused where Postgres's `float8pl` and friends refuse it.
    fn float(&self, left: &ArrayRef, right: &ArrayRef) -> Result<ArrayRef> {
        let (l, r) = (as_f64(left), as_f64(right));
        if self.op == Operator::Divide && (0..l.len()).any(|i| r[i] == Some(0.0) && l[i].is_some_and(|v| !v.is_nan())) {
            return Err(DataFusionError::External(Box::new(Error::DivisionByZero)));
        }
        let result = match self.op {
            Operator::Plus => numeric::add(left, right),
            Operator::Minus => numeric::sub(left, right),
            Operator::Multiply => numeric::mul(left, right),
            _ => numeric::div(left, right),
        }?;
        let out = as_f64(&result);
        let overflowed = (0..out.len()).any(|i| match (out[i], l[i], r[i]) {
            (Some(o), Some(a), Some(b)) => o.is_infinite() && a.is_finite() && b.is_finite(),
            _ => false,
        });
        if overflowed { Err(self.out_of_range()) } else { Ok(result) }
    }
}

/// An argument as an Arrow kernel takes it: a column, or a scalar that stands for every row.
fn datum(value: &ColumnarValue) -> Result<Box<dyn Datum>> {
    Ok(match value {
        ColumnarValue::Array(array) => Box::new(array.clone()),
        ColumnarValue::Scalar(scalar) => Box::new(scalar.to_scalar()?),
    })
}

/// A float column's values as `f64`s (`None` for NULL).
fn as_f64(array: &ArrayRef) -> Vec<Option<f64>> {
    match array.data_type() {
        DataType::Float32 => array.as_primitive::<Float32Type>().iter().map(|v| v.map(f64::from)).collect(),
        _ => array.as_primitive::<Float64Type>().iter().collect(),
    }
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.data_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [left, right] = args.args.as_slice() else {
            return Err(DataFusionError::Internal(format!("{} takes two arguments", self.name)));
        };
        let scalars = matches!((left, right), (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_)));
        let result = self.apply(left, right, if scalars { 1 } else { args.number_rows })?;
        if scalars {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::prelude::SessionContext;

    use super::*;

    async fn run(sql: &str) -> std::result::Result<String, String> {
        let ctx = SessionContext::new();
        ctx.add_analyzer_rule(Arc::new(PostgresOperators));
        let frame = ctx.sql(sql).await.map_err(|e| e.to_string())?;
        let batches = frame.collect().await.map_err(|e| e.to_string())?;
        let column = batches[0].column(0);
        arrow::util::display::array_value_to_string(column, 0).map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn integer_overflow_is_an_error() {
        assert!(run("SELECT 9223372036854775807 + 1").await.unwrap_err().contains("bigint out of range"));
        assert!(
            run("SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)").await.unwrap_err().contains("integer out of range")
        );
        let table = "SELECT a * 3 FROM (VALUES (4611686018427387904)) t(a)";
        assert!(run(table).await.unwrap_err().contains("bigint out of range"));
        assert_eq!(run("SELECT 40 + 2").await.unwrap(), "42");
        assert_eq!(
            run("SELECT a - 1 FROM (VALUES (-9223372036854775807)) t(a)").await.unwrap(),
            "-9223372036854775808"
        );
    }

    #[tokio::test]
    async fn float_overflow_and_division_by_zero_are_errors() {
        assert!(run("SELECT CAST(1 AS DOUBLE) / 0").await.unwrap_err().contains("division by zero"));
        assert!(run("SELECT CAST(1e308 AS DOUBLE) * 10").await.unwrap_err().contains("value out of range"));
        assert_eq!(run("SELECT CAST('NaN' AS DOUBLE) / 0").await.unwrap(), "NaN");
        assert_eq!(run("SELECT CAST('Infinity' AS DOUBLE) + 1").await.unwrap(), "inf");
        assert_eq!(run("SELECT CAST(1 AS DOUBLE) / 4").await.unwrap(), "0.25");
    }

    #[tokio::test]
    async fn intervals_compare_by_length() {
        assert_eq!(run("SELECT INTERVAL '1 day' = INTERVAL '24 hours'").await.unwrap(), "true");
        assert_eq!(run("SELECT INTERVAL '1 month' > INTERVAL '29 days'").await.unwrap(), "true");
        let gap = "SELECT TIMESTAMP '2022-01-23 00:00:00' - TIMESTAMP '2022-01-01 00:00:00' > INTERVAL '7 days'";
        assert_eq!(run(gap).await.unwrap(), "true");
        let column = "SELECT a < INTERVAL '1 hour' FROM (VALUES (INTERVAL '59 minutes'), (INTERVAL '2 days')) t(a)";
        assert_eq!(run(column).await.unwrap(), "true");
    }

    #[tokio::test]
    async fn numeric_division_rounds_to_twenty_digits() {
        let q = |sql: &str| {
            let sql = sql.to_string();
            async move { run(&sql).await }
        };
        assert_eq!(
            q("SELECT CAST(1 AS DECIMAL(10,0)) / CAST(3 AS DECIMAL(10,0))").await.unwrap(),
            "0.33333333333333333333"
        );
        assert_eq!(
            q("SELECT CAST(2 AS DECIMAL(10,0)) / CAST(-3 AS DECIMAL(10,0))").await.unwrap(),
            "-0.66666666666666666667"
        );
        assert_eq!(
            q("SELECT CAST(10.5 AS DECIMAL(10,1)) / CAST(0.25 AS DECIMAL(10,2))").await.unwrap(),
            "42.00000000000000000000"
        );
        assert!(
            q("SELECT CAST(1 AS DECIMAL(10,0)) / CAST(0 AS DECIMAL(10,0))")
                .await
                .unwrap_err()
                .contains("division by zero")
        );
    }

    #[tokio::test]
    async fn nulls_pass_through() {
        assert_eq!(run("SELECT a + 1 FROM (VALUES (CAST(NULL AS BIGINT))) t(a)").await.unwrap(), "");
        assert_eq!(run("SELECT CAST(NULL AS DOUBLE) / 0").await.unwrap(), "");
    }
}
