//! `sluice run script.sql`: executes a script in an embedded, temporary instance.
//!
//! Sources are bounded: at the end of their files the watermark moves to the end of time,
//! so every window closes. Each statement that returns rows prints them, as an aligned
//! table (psql style) or CSV with a header. The first failing statement prints its error and
//! makes the run fail. Called by `main.rs`.

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;

use crate::connector::file_access::FileRoots;
use crate::engine::{CopyFormat, Engine, EngineConfig, Output};
use crate::error::{Error, Result};
use crate::server::copy;
use crate::state::Store;

/// How result rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns, like psql.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

/// Runs the statements of `script`, printing results to `out`; file streams and sinks may
/// use only `file_roots`.
pub async fn run_script(
    script: &str,
    format: OutputFormat,
    file_roots: FileRoots,
    parallelism: usize,
    out: &mut dyn Write,
) -> Result<()> {
    let config = EngineConfig { bounded: true, file_roots, parallelism, ..EngineConfig::default() };
    let engine = Engine::open(Store::temporary()?, config).await?;
    let result = run_statements(&engine, script, format, out).await;
    engine.shutdown().await;
    result
}

async fn run_statements(engine: &Engine, script: &str, format: OutputFormat, out: &mut dyn Write) -> Result<()> {
    let session = engine.session(crate::engine::DEFAULT_USER);
    for stmt in engine.parse(script)? {
        match session.execute(&stmt, vec![]).await? {
            Output::Rows { schema, batches } => match format {
                OutputFormat::Table => write_table(&schema, &batches, out)?,
                OutputFormat::Csv => write_csv(&schema, &batches, out)?,
            },
            Output::Copy { .. } | Output::Command { .. } => {}
        }
    }
    Ok(())
}

/// Rows as `COPY ... TO STDOUT WITH (FORMAT csv, HEADER true)` writes them, values in
/// Postgres's text.
fn write_csv(schema: &Schema, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let format = CopyFormat { csv: true, header: true, delimiter: ',', null: String::new() };
    let io = |e: std::io::Error| Error::Io(e);
    out.write_all(copy::header(schema, &format).as_bytes()).map_err(io)?;
    for batch in batches {
        for line in copy::rows(batch, &format)? {
            out.write_all(line.as_bytes()).map_err(io)?;
        }
    }
    Ok(())
}

/// Prints rows like psql's aligned format, with a `(n rows)` footer; values in Postgres's
/// text, as psql shows them.
pub fn write_table(schema: &Schema, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    let mut cells: Vec<Vec<String>> = Vec::new();
    for batch in batches {
        let rows = copy::text_rows(batch)?;
        cells.extend(rows.into_iter().map(|row| row.into_iter().map(Option::unwrap_or_default).collect()));
    }
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let widths: Vec<usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0).max(n.chars().count()))
        .collect();
    let numeric: Vec<bool> = schema.fields().iter().map(|f| f.data_type().is_numeric()).collect();
    let header: Vec<String> = names.iter().zip(&widths).map(|(n, w)| center(n, *w)).collect();
    let io = |e: std::io::Error| Error::Io(e);
    writeln!(out, " {}", header.join(" | ").trim_end()).map_err(io)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{}", rule.join("+")).map_err(io)?;
    for row in &cells {
        let padded: Vec<String> = row
            .iter()
            .zip(&widths)
            .zip(&numeric)
            .map(|((c, w), num)| if *num { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        writeln!(out, " {}", padded.join(" | ").trim_end()).map_err(io)?;
    }
    let n = cells.len();
    writeln!(out, "({n} {})\n", if n == 1 { "row" } else { "rows" }).map_err(io)?;
    Ok(())
}

fn center(text: &str, width: usize) -> String {
    let len = text.chars().count();
    let left = (width.saturating_sub(len)) / 2;
    let right = width.saturating_sub(len) - left;
    format!("{}{text}{}", " ".repeat(left), " ".repeat(right))
}
