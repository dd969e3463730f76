//! The vector and array columns of `pg_index`, `pg_constraint` and `pg_extension`
//! (`indkey`, `conkey`, `extconfig`, ...) as lists: the crate keeps them as text (`1 2`,
//! `[1, 2]`), so the `unnest(indkey)` and `generate_subscripts(conkey, 1)` of SQLAlchemy's,
//! DBeaver's and Metabase's key and index queries, and DBeaver's `unnest(extconfig)`,
//! could not be planned.
//!
//! Used by the `pg_catalog` overlay, which converts these columns when the table is read.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int16Builder, Int32Builder, ListBuilder, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::cast::as_string_array;
use datafusion::error::{DataFusionError, Result as DfResult};

/// The element type of a list column: `int2vector`/`int2[]` or `oidvector`/`oid[]`.
#[derive(Debug, Clone, Copy)]
pub(super) enum Element {
    Int2,
    Oid,
}

/// The columns of `table` kept as text by the crate that are lists in Postgres.
pub(super) fn list_columns(table: &str) -> Option<&'static [(&'static str, Element)]> {
    use Element::{Int2, Oid};
    match table {
        "pg_index" => Some(&[("indkey", Int2), ("indcollation", Oid), ("indclass", Oid), ("indoption", Int2)]),
        "pg_constraint" => Some(&[
            ("conkey", Int2),
            ("confkey", Int2),
            ("conpfeqop", Oid),
            ("conppeqop", Oid),
            ("conffeqop", Oid),
            ("confdelsetcols", Int2),
            ("conexclop", Oid),
        ]),
        "pg_extension" => Some(&[("extconfig", Oid)]),
        _ => None,
    }
}

fn list_type(element: Element) -> DataType {
    let item = match element {
        Element::Int2 => DataType::Int16,
        Element::Oid => DataType::Int32,
    };
    DataType::List(Arc::new(Field::new("item", item, true)))
}

/// `base` with the `columns` as lists.
pub(super) fn schema(base: &SchemaRef, columns: &[(&str, Element)]) -> SchemaRef {
    let fields: Vec<Field> = base
        .fields()
        .iter()
        .map(|f| match columns.iter().find(|(name, _)| name == f.name()) {
            Some((_, element)) => Field::new(f.name(), list_type(*element), true),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
}

/// `batch` (the crate's rows) with the `columns` parsed into lists, in `schema`.
pub(super) fn convert(batch: &RecordBatch, schema: &SchemaRef, columns: &[(&str, Element)]) -> DfResult<RecordBatch> {
    let mut arrays = batch.columns().to_vec();
    for (name, element) in columns {
        let Ok(index) = batch.schema().index_of(name) else { continue };
        arrays[index] = parse(&arrays[index], *element)?;
    }
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

/// Text vectors (`1 2`) or arrays (`[1, 2]`, `{1,2}`) as a list array.
fn parse(text: &ArrayRef, element: Element) -> DfResult<ArrayRef> {
    let text = as_string_array(text)?;
    match element {
        Element::Int2 => {
            let mut lists = ListBuilder::new(Int16Builder::new());
            for value in text {
                append(&mut lists, value, |b, v: i16| b.values().append_value(v))?;
            }
            Ok(Arc::new(lists.finish()))
        }
        Element::Oid => {
            let mut lists = ListBuilder::new(Int32Builder::new());
            for value in text {
                append(&mut lists, value, |b, v: i32| b.values().append_value(v))?;
            }
            Ok(Arc::new(lists.finish()))
        }
    }
}

/// Appends one list (NULL for a NULL `value`) to `lists`.
fn append<B, T>(lists: &mut ListBuilder<B>, value: Option<&str>, push: impl Fn(&mut ListBuilder<B>, T)) -> DfResult<()>
where
    B: arrow::array::ArrayBuilder,
    T: std::str::FromStr,
{
    let Some(value) = value else {
        lists.append_null();
        return Ok(());
    };
    let inner = value.trim_matches(|c| matches!(c, '[' | ']' | '{' | '}'));
    for item in inner.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
        let number =
            item.parse().map_err(|_| DataFusionError::Internal(format!("bad vector element {item:?} in {value:?}")))?;
        push(lists, number);
    }
    lists.append(true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, StringArray};
    use arrow::datatypes::Int16Type;

    #[test]
    fn vectors_and_arrays_become_lists() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("1 2"), Some("[2, 20, 3]"), Some(""), None]));
        let lists = parse(&text, Element::Int2).expect("parses");
        let lists = lists.as_list::<i32>();
        let values = |i: usize| lists.value(i).as_primitive::<Int16Type>().values().to_vec();
        assert_eq!((values(0), values(1), values(2)), (vec![1, 2], vec![2, 20, 3], vec![]));
        assert!(lists.is_null(3));
    }
}
