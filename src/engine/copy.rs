//! `COPY (query) TO STDOUT` and `COPY name TO STDOUT`: what psql's `\\copy ... to` and
//! `COPY ... TO STDOUT` send. The session runs the query and returns its rows with the
//! format options here; the server writes them in COPY's text or CSV format.
//!
//! Only copying out to the client is supported: COPY FROM and COPY to a server file are
//! refused (streams and views get their rows from sources; Sluice writes no files for
//! clients).

use datafusion::sql::sqlparser::ast::{
    self, CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget,
};

use super::CopyFormat;
use crate::error::{Error, Result};

/// The query and format of a `COPY ... TO STDOUT`; other COPYs are refused.
pub(super) fn copy_to_stdout(stmt: &ast::Statement) -> Result<(ast::Statement, CopyFormat)> {
    let ast::Statement::Copy { source, to, target, options, legacy_options, .. } = stmt else {
        return Err(Error::Internal(format!("not a COPY: {stmt}")));
    };
    if !*to || !matches!(target, CopyTarget::Stdout) {
        return Err(Error::Unsupported(
            "only COPY ... TO STDOUT is supported (psql's \\copy ... to a file uses it)".into(),
        ));
    }
    let query = match source {
        CopySource::Query(query) => ast::Statement::Query(query.clone()),
        CopySource::Table { table_name, columns } => {
            let list = if columns.is_empty() {
                "*".to_string()
            } else {
                columns.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            };
            crate::sql::parse(&format!("SELECT {list} FROM {table_name}"))?
                .pop()
                .and_then(|s| match s {
                    crate::sql::Statement::Query(q) => Some(*q),
                    _ => None,
                })
                .ok_or_else(|| Error::Internal("COPY's table did not make a query".into()))?
        }
    };
    Ok((query, format(options, legacy_options)?))
}

/// The format `options` ask for.
fn format(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<CopyFormat> {
    let mut format = CopyFormat { csv: false, header: false, delimiter: '\t', null: "\\N".into() };
    let mut delimiter = None;
    let mut null = None;
    for option in options {
        match option {
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("csv") => format.csv = true,
            CopyOption::Format(f) if f.value.eq_ignore_ascii_case("text") => format.csv = false,
            CopyOption::Header(h) => format.header = *h,
            CopyOption::Delimiter(d) => delimiter = Some(*d),
            CopyOption::Null(n) => null = Some(n.clone()),
            other => return Err(Error::Unsupported(format!("COPY option {other} is not supported"))),
        }
    }
    for option in legacy {
        match option {
            CopyLegacyOption::Csv(csv) => {
                format.csv = true;
                format.header |= csv.iter().any(|o| matches!(o, CopyLegacyCsvOption::Header));
            }
            CopyLegacyOption::Header => format.header = true,
            CopyLegacyOption::Delimiter(d) => delimiter = Some(*d),
            CopyLegacyOption::Null(n) => null = Some(n.clone()),
            other => return Err(Error::Unsupported(format!("COPY option {other} is not supported"))),
        }
    }
    if format.csv {
        format.delimiter = ',';
        format.null = String::new();
    }
    format.delimiter = delimiter.unwrap_or(format.delimiter);
    format.null = null.unwrap_or(format.null);
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Option<(ast::Statement, CopyFormat)> {
        let stmt = crate::sql::parse(sql).unwrap().pop().unwrap();
        let crate::sql::Statement::Copy(q) = stmt else { panic!("not a COPY") };
        Some(copy_to_stdout(&q).unwrap())
    }

    #[test]
    fn copy_of_a_query_in_text_and_csv() {
        let (query, format) = parsed("COPY (SELECT a FROM v) TO STDOUT").unwrap();
        assert_eq!(query.to_string(), "SELECT a FROM v");
        assert_eq!((format.csv, format.delimiter, format.null.as_str()), (false, '\t', "\\N"));
        let (_, format) = parsed("COPY (SELECT a FROM v) TO STDOUT WITH (FORMAT csv, HEADER true)").unwrap();
        assert_eq!((format.csv, format.header, format.delimiter, format.null.as_str()), (true, true, ',', ""));
        let (_, format) = parsed("COPY v TO STDOUT WITH CSV HEADER").unwrap();
        assert!(format.csv && format.header);
    }

    #[test]
    fn copy_from_is_refused() {
        let stmt = crate::sql::parse("COPY v FROM STDIN").unwrap().pop().unwrap();
        let crate::sql::Statement::Copy(q) = stmt else { panic!("not a COPY") };
        assert_eq!(copy_to_stdout(&q).unwrap_err().sqlstate(), "0A000");
    }
}
