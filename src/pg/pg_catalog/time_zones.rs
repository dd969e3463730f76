//! `pg_timezone_names` and `pg_timezone_abbrevs`, from the IANA time zone database that
//! `chrono-tz` compiles in (the zones `SET TimeZone` accepts). Offsets and daylight saving
//! are those in effect when the statement is planned, as in Postgres. DataGrip reads both
//! on connect.
//!
//! Used by the `pg_catalog` overlay for these two names.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, IntervalMonthDayNanoArray, RecordBatch, StringArray};
use arrow::datatypes::{Field, IntervalMonthDayNano, Schema};
use chrono::{Offset, TimeZone, Utc};
use chrono_tz::{OffsetComponents, OffsetName, TZ_VARIANTS};
use datafusion::catalog::TableProvider;
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;

/// The tables' names.
pub(super) const NAMES: [&str; 2] = ["pg_timezone_names", "pg_timezone_abbrevs"];

/// One zone now: its name, abbreviation, offset from UTC in seconds and whether daylight
/// saving is in effect.
struct Zone {
    name: &'static str,
    abbrev: String,
    offset: i64,
    is_dst: bool,
}

/// The table `name`, if it is one of [`NAMES`].
pub(super) fn table(name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
    let names = name.eq_ignore_ascii_case(NAMES[0]);
    if !names && !name.eq_ignore_ascii_case(NAMES[1]) {
        return Ok(None);
    }
    let zones = zones();
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    if names {
        columns.push(("name", Arc::new(StringArray::from_iter_values(zones.iter().map(|z| z.name)))));
        columns.push(("abbrev", Arc::new(StringArray::from_iter_values(zones.iter().map(|z| z.abbrev.as_str())))));
        columns.push(("utc_offset", intervals(zones.iter().map(|z| z.offset))));
        columns.push(("is_dst", Arc::new(BooleanArray::from_iter(zones.iter().map(|z| Some(z.is_dst))))));
    } else {
        let abbrevs: BTreeSet<(&str, i64, bool)> =
            zones.iter().map(|z| (z.abbrev.as_str(), z.offset, z.is_dst)).collect();
        columns.push(("abbrev", Arc::new(StringArray::from_iter_values(abbrevs.iter().map(|a| a.0)))));
        columns.push(("utc_offset", intervals(abbrevs.iter().map(|a| a.1))));
        columns.push(("is_dst", Arc::new(BooleanArray::from_iter(abbrevs.iter().map(|a| Some(a.2))))));
    }
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), false)).collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, a)| a).collect())?;
    Ok(Some(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?)))
}

/// Every zone as it is now.
fn zones() -> Vec<Zone> {
    let now = Utc::now().naive_utc();
    TZ_VARIANTS
        .iter()
        .map(|tz| {
            let offset = tz.offset_from_utc_datetime(&now);
            let seconds = offset.fix().local_minus_utc();
            let abbrev = offset.abbreviation().map_or_else(|| numeric_abbreviation(seconds), str::to_string);
            Zone { name: tz.name(), abbrev, offset: i64::from(seconds), is_dst: !offset.dst_offset().is_zero() }
        })
        .collect()
}

/// The abbreviation tzdata gives zones without a letter one: the offset, as `-03` or
/// `+0545`.
fn numeric_abbreviation(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let (hours, minutes) = (seconds.abs() / 3600, seconds.abs() % 3600 / 60);
    match minutes {
        0 => format!("{sign}{hours:02}"),
        _ => format!("{sign}{hours:02}{minutes:02}"),
    }
}

/// Offsets in seconds as intervals.
fn intervals(seconds: impl Iterator<Item = i64>) -> ArrayRef {
    let values: IntervalMonthDayNanoArray =
        seconds.map(|s| Some(IntervalMonthDayNano::new(0, 0, s * 1_000_000_000))).collect();
    Arc::new(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_have_their_current_offsets() {
        let zones = zones();
        let utc = zones.iter().find(|z| z.name == "UTC").expect("UTC");
        assert_eq!((utc.abbrev.as_str(), utc.offset, utc.is_dst), ("UTC", 0, false));
        let kolkata = zones.iter().find(|z| z.name == "Asia/Kolkata").expect("Asia/Kolkata");
        assert_eq!((kolkata.abbrev.as_str(), kolkata.offset, kolkata.is_dst), ("IST", 19800, false));
        assert_eq!(numeric_abbreviation(-3 * 3600), "-03");
        assert_eq!(numeric_abbreviation(5 * 3600 + 45 * 60), "+0545");
    }
}
