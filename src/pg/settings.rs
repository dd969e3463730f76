//! Run-time parameters of a client session: the ones Postgres clients SET, SHOW, RESET and
//! read with `current_setting()` (search_path, extra_float_digits, application_name,
//! DateStyle, TimeZone, transaction isolation, ...).
//!
//! Owned by `Session`. Each parameter has a Postgres name, a default, a check that turns a
//! value as the client wrote it into the stored text (or refuses a value Sluice cannot
//! honour), and whether the server reports changes to it in ParameterStatus, as Postgres
//! does for its `GUC_REPORT` parameters. Names are case-insensitive; a name with a dot is
//! a custom parameter (`myapp.tenant`), which Postgres accepts too. It only stores text:
//! what a parameter changes (the time zone of results, say) is the session's business.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};

/// What checks and normalizes a value: the client's text in, the stored text out.
type Check = fn(&str) -> Result<String>;

/// One parameter Sluice knows.
struct Parameter {
    /// Its name as Postgres spells it (SHOW's column name).
    name: &'static str,
    /// The value of a new session.
    default: &'static str,
    /// A line for SHOW ALL.
    description: &'static str,
    /// Changes are sent to the client as ParameterStatus.
    reported: bool,
    /// Validates and normalizes a new value; None for read-only parameters.
    check: Option<Check>,
}

/// Shorthand for a parameter entry.
const fn p(
    name: &'static str,
    default: &'static str,
    reported: bool,
    check: Option<Check>,
    description: &'static str,
) -> Parameter {
    Parameter { name, default, description, reported, check }
}

/// Every parameter a session has, as in Postgres 16.
const PARAMETERS: &[Parameter] = &[
    p("application_name", "", true, Some(any), "Sets the application name to be reported in statistics and logs."),
    p("bytea_output", "hex", false, Some(bytea_output), "Sets the output format for bytea."),
    p("client_encoding", "UTF8", true, Some(client_encoding), "Sets the client's character set encoding."),
    p("client_min_messages", "notice", false, Some(any), "Sets the message levels that are sent to the client."),
    p("DateStyle", "ISO, MDY", true, Some(date_style), "Sets the display format for date and time values."),
    p(
        "default_transaction_isolation",
        "read committed",
        false,
        Some(isolation),
        "Sets the transaction isolation level of each new transaction.",
    ),
    p(
        "default_transaction_read_only",
        "off",
        false,
        Some(boolean),
        "Sets the default read-only status of new transactions.",
    ),
    p(
        "extra_float_digits",
        "1",
        false,
        Some(extra_float_digits),
        "Sets the number of digits displayed for floating-point values.",
    ),
    p(
        "idle_in_transaction_session_timeout",
        "0",
        false,
        Some(any),
        "Sets the maximum allowed idle time between queries, when in a transaction.",
    ),
    p("in_hot_standby", "off", true, None, "Shows whether hot standby is currently active."),
    p("integer_datetimes", "on", true, None, "Shows whether datetimes are integer based."),
    p("IntervalStyle", "postgres", true, Some(interval_style), "Sets the display format for interval values."),
    p("is_superuser", "on", true, None, "Shows whether the current user is a superuser."),
    p("lc_messages", "C", false, Some(any), "Sets the language in which messages are displayed."),
    p("lc_monetary", "C", false, Some(any), "Sets the locale for formatting monetary amounts."),
    p("lc_numeric", "C", false, Some(any), "Sets the locale for formatting numbers."),
    p("lc_time", "C", false, Some(any), "Sets the locale for formatting date and time values."),
    p("lock_timeout", "0", false, Some(any), "Sets the maximum allowed duration of any wait for a lock."),
    p("max_identifier_length", "63", false, None, "Shows the maximum identifier length."),
    p("row_security", "on", false, Some(boolean), "Enable row security."),
    p(
        "search_path",
        "\"$user\", public",
        false,
        Some(any),
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    p("server_encoding", "UTF8", true, None, "Shows the server (database) character set encoding."),
    p("server_version", super::SERVER_VERSION, true, None, "Shows the server version."),
    p("server_version_num", super::SERVER_VERSION_NUM, false, None, "Shows the server version as an integer."),
    p(
        "standard_conforming_strings",
        "on",
        true,
        Some(standard_strings),
        "Causes '...' strings to treat backslashes literally.",
    ),
    p(
        "statement_mem",
        "512MB",
        false,
        Some(statement_mem),
        "Sets the memory one query may use for sorts, joins and aggregations.",
    ),
    p("statement_timeout", "0", false, Some(timeout), "Sets the maximum allowed duration of any statement."),
    p("synchronous_commit", "on", false, Some(any), "Sets the current transaction's synchronization level."),
    p("TimeZone", "UTC", true, Some(time_zone), "Sets the time zone for displaying and interpreting time stamps."),
    p(
        "transaction_isolation",
        "read committed",
        false,
        Some(isolation),
        "Sets the current transaction's isolation level.",
    ),
    p("transaction_read_only", "off", false, Some(boolean), "Sets the current transaction's read-only status."),
];

/// The parameter called `name`, ignoring case.
fn lookup(name: &str) -> Option<&'static Parameter> {
    PARAMETERS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// A session's parameter values.
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// Values that differ from the defaults, by canonical name (custom ones lowercased).
    changed: BTreeMap<String, String>,
    /// The server's defaults where they differ from Postgres' (`serve --statement-timeout`).
    server_defaults: BTreeMap<String, String>,
}

impl Settings {
    /// The value of `name`: 42704 for an unknown name, as in Postgres.
    pub fn get(&self, name: &str) -> Result<String> {
        let key = canonical(name)?;
        match (self.changed.get(&key), lookup(&key)) {
            (Some(value), _) => Ok(value.clone()),
            (None, Some(p)) => Ok(self.default_of(p)),
            (None, None) => Err(unrecognized(name)),
        }
    }

    /// Makes `value` the default of parameter `name` in this session: what it has until
    /// SET and after RESET.
    pub fn set_default(&mut self, name: &str, value: &str) -> Result<()> {
        let key = canonical(name)?;
        let p = lookup(&key).ok_or_else(|| unrecognized(name))?;
        let check = p.check.ok_or_else(|| read_only(p.name))?;
        self.server_defaults.insert(key, check(value)?);
        Ok(())
    }

    /// The default of `p` in this session.
    fn default_of(&self, p: &Parameter) -> String {
        self.server_defaults.get(p.name).cloned().unwrap_or_else(|| p.default.to_string())
    }

    /// The canonical name of `name` (SHOW's column name), or 42704.
    pub fn name_of(&self, name: &str) -> Result<String> {
        let key = canonical(name)?;
        if lookup(&key).is_none() && !self.changed.contains_key(&key) {
            return Err(unrecognized(name));
        }
        Ok(key)
    }

    /// Sets `name` to `value`; returns the (name, value) to report to the client, if the
    /// parameter is one whose changes are reported.
    pub fn set(&mut self, name: &str, value: &str) -> Result<Option<(String, String)>> {
        let key = canonical(name)?;
        let stored = match lookup(&key) {
            Some(p) => {
                let check = p.check.ok_or_else(|| read_only(p.name))?;
                check(value)?
            }
            None => value.to_string(), // a custom parameter: any text
        };
        self.changed.insert(key.clone(), stored.clone());
        let reported = lookup(&key).is_some_and(|p| p.reported);
        Ok(reported.then_some((key, stored)))
    }

    /// Sets `name` back to its default; the report as for [`Settings::set`].
    pub fn reset(&mut self, name: &str) -> Result<Option<(String, String)>> {
        let key = canonical(name)?;
        let Some(p) = lookup(&key) else {
            self.changed.remove(&key);
            return Ok(None);
        };
        if p.check.is_none() {
            return Err(read_only(p.name));
        }
        let was_changed = self.changed.remove(&key).is_some();
        Ok((p.reported && was_changed).then(|| (key, self.default_of(p))))
    }

    /// Sets every parameter back to its default (RESET ALL, DISCARD ALL); returns the
    /// reported parameters that changed.
    pub fn reset_all(&mut self) -> Vec<(String, String)> {
        let changed = std::mem::take(&mut self.changed);
        changed.into_keys().filter_map(|k| lookup(&k).filter(|p| p.reported).map(|p| (k, self.default_of(p)))).collect()
    }

    /// Every built-in parameter with its default, description and whether a session may
    /// change it, in `pg_settings` order (by name).
    pub fn defaults() -> Vec<(&'static str, &'static str, &'static str, bool)> {
        let mut rows: Vec<_> =
            PARAMETERS.iter().map(|p| (p.name, p.default, p.description, p.check.is_some())).collect();
        rows.sort_by_key(|(name, ..)| name.to_lowercase());
        rows
    }

    /// Every parameter with its value and description, by name (SHOW ALL).
    pub fn all(&self) -> Vec<(String, String, String)> {
        let mut rows: Vec<(String, String, String)> = PARAMETERS
            .iter()
            .map(|p| {
                let value = self.changed.get(p.name).cloned().unwrap_or_else(|| self.default_of(p));
                (p.name.to_string(), value, p.description.to_string())
            })
            .collect();
        let custom = self.changed.iter().filter(|(k, _)| lookup(k).is_none());
        rows.extend(custom.map(|(k, v)| (k.clone(), v.clone(), String::new())));
        rows.sort_by_key(|(name, _, _)| name.to_lowercase());
        rows
    }
}

/// The key a parameter is stored under: its Postgres spelling, or the lowercased name of
/// a custom parameter. Names that are neither are refused.
fn canonical(name: &str) -> Result<String> {
    let lowered = name.to_lowercase();
    match (lookup(&lowered), aliases(&lowered)) {
        (Some(p), _) => Ok(p.name.to_string()),
        (None, Some(real)) => Ok(real.to_string()),
        (None, None) if lowered.contains('.') => Ok(lowered),
        (None, None) => Err(unrecognized(name)),
    }
}

/// Other names clients use for a parameter.
fn aliases(name: &str) -> Option<&'static str> {
    match name {
        "time zone" | "time_zone" => Some("TimeZone"),
        "transaction isolation level" => Some("transaction_isolation"),
        "session authorization" => Some("is_superuser"),
        _ => None,
    }
}

fn unrecognized(name: &str) -> Error {
    Error::UndefinedObject(format!("unrecognized configuration parameter \"{name}\""))
}

fn read_only(name: &str) -> Error {
    Error::CantChange(format!("parameter \"{name}\" cannot be changed"))
}

fn invalid(name: &str, value: &str) -> Error {
    Error::InvalidParameter(format!("invalid value for parameter \"{name}\": \"{value}\""))
}

fn any(value: &str) -> Result<String> {
    Ok(value.to_string())
}

fn boolean(value: &str) -> Result<String> {
    match value.to_lowercase().as_str() {
        "on" | "true" | "yes" | "1" | "t" | "y" => Ok("on".into()),
        "off" | "false" | "no" | "0" | "f" | "n" => Ok("off".into()),
        _ => Err(Error::InvalidParameter(format!("parameter requires a Boolean value, not \"{value}\""))),
    }
}

fn bytea_output(value: &str) -> Result<String> {
    match value.to_lowercase().as_str() {
        "hex" => Ok("hex".into()),
        "escape" => Err(Error::Unsupported("bytea_output \"escape\" is not supported; Sluice writes hex".into())),
        _ => Err(invalid("bytea_output", value)),
    }
}

fn client_encoding(value: &str) -> Result<String> {
    match value.to_uppercase().replace(['-', '_'], "").as_str() {
        "UTF8" | "UNICODE" => Ok("UTF8".into()),
        _ => Err(Error::Unsupported(format!("client encoding \"{value}\" is not supported: Sluice speaks only UTF8"))),
    }
}

/// `ISO` with a field order; Sluice writes dates only in ISO style.
fn date_style(value: &str) -> Result<String> {
    let mut order = "MDY";
    for part in value.split(',').map(|s| s.trim().to_uppercase()) {
        match part.as_str() {
            "ISO" => {}
            "MDY" | "US" | "NONEURO" | "NONEUROPEAN" | "DEFAULT" => order = "MDY",
            "DMY" | "EURO" | "EUROPEAN" => order = "DMY",
            "YMD" => order = "YMD",
            "SQL" | "POSTGRES" | "GERMAN" => {
                return Err(Error::Unsupported(format!(
                    "DateStyle \"{value}\" is not supported: Sluice writes dates in ISO style"
                )));
            }
            _ => return Err(invalid("DateStyle", value)),
        }
    }
    Ok(format!("ISO, {order}"))
}

fn interval_style(value: &str) -> Result<String> {
    match value.to_lowercase().as_str() {
        "postgres" => Ok("postgres".into()),
        "postgres_verbose" | "sql_standard" | "iso_8601" => Err(Error::Unsupported(format!(
            "IntervalStyle \"{value}\" is not supported: Sluice writes intervals in postgres style"
        ))),
        _ => Err(invalid("IntervalStyle", value)),
    }
}

fn standard_strings(value: &str) -> Result<String> {
    match boolean(value)?.as_str() {
        "on" => Ok("on".into()),
        _ => Err(Error::Unsupported("standard_conforming_strings cannot be turned off".into())),
    }
}

/// A time in milliseconds as Postgres writes it: a bare number is milliseconds, or a
/// number with a unit (`us`, `ms`, `s`, `min`, `h`, `d`); stored in the largest unit that
/// divides it (`5s`, `1500ms`, `1min`), `0` for none.
fn timeout(value: &str) -> Result<String> {
    let ms = timeout_ms(value)?;
    const UNITS: [(u64, &str); 4] = [(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1_000, "s")];
    if ms == 0 {
        return Ok("0".into());
    }
    let (size, unit) = UNITS.iter().find(|(size, _)| ms % size == 0).copied().unwrap_or((1, "ms"));
    Ok(format!("{}{unit}", ms / size))
}

/// The milliseconds of a time setting (see [`timeout`]).
pub(crate) fn timeout_ms(value: &str) -> Result<u64> {
    let text = value.trim().to_lowercase();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => {
            return Err(Error::InvalidParameter(format!(
                "invalid value for parameter \"statement_timeout\": \"{value}\""
            )));
        }
    };
    let ms = number.trim().parse::<f64>().map_err(|_| {
        Error::InvalidParameter(format!("invalid value for parameter \"statement_timeout\": \"{value}\""))
    })? * factor;
    if !(0.0..=f64::from(i32::MAX)).contains(&ms) {
        return Err(Error::InvalidParameter(format!(
            "{} ms is outside the valid range for parameter \"statement_timeout\" (0 .. 2147483647)",
            ms.round()
        )));
    }
    Ok(ms.round() as u64)
}

/// A memory size in Postgres's units (see [`memory_bytes`]), stored in
/// the largest unit that divides it.
fn statement_mem(value: &str) -> Result<String> {
    Ok(format_memory(memory_bytes("statement_mem", value)?))
}

/// The bytes of a `statement_mem` value.
pub(crate) fn statement_mem_bytes(value: &str) -> Result<usize> {
    memory_bytes("statement_mem", value)
}

fn extra_float_digits(value: &str) -> Result<String> {
    match value.trim().parse::<i32>() {
        Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
        Ok(n) => Err(Error::InvalidParameter(format!(
            "{n} is outside the valid range for parameter \"extra_float_digits\" (-15 .. 3)"
        ))),
        Err(_) => {
            Err(Error::InvalidParameter(format!("invalid value for parameter \"extra_float_digits\": \"{value}\"")))
        }
    }
}

/// One of the four isolation levels, lowercase as SHOW prints it.
fn isolation(value: &str) -> Result<String> {
    let normal = value.to_lowercase().replace(['_', '-'], " ");
    match normal.as_str() {
        "read uncommitted" | "read committed" | "repeatable read" | "serializable" => Ok(normal),
        _ => Err(invalid("transaction_isolation", value)),
    }
}

/// A time zone results can be shown in: a name from the tz database (`Europe/Paris`), UTC
/// or a fixed offset (`+02:00`).
fn time_zone(value: &str) -> Result<String> {
    let trimmed = value.trim();
    let name = match trimmed.to_uppercase().as_str() {
        "UTC" | "GMT" | "Z" | "ZULU" | "UCT" | "UNIVERSAL" | "ETC/UTC" | "0" | "+00" | "+00:00" => "UTC",
        _ => trimmed,
    };
    match arrow::array::timezone::Tz::from_str(name) {
        Ok(_) => Ok(name.to_string()),
        Err(_) => Err(invalid("TimeZone", value)),
    }
}

/// Bytes in Postgres's memory units (`kB`, `MB`, `GB`, `TB`), the largest that divides
/// them, as `SHOW work_mem` writes them.
pub(crate) fn format_memory(bytes: usize) -> String {
    const UNITS: [(usize, &str); 4] = [(1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")];
    match UNITS.iter().find(|(size, _)| bytes >= *size && bytes.is_multiple_of(*size)) {
        Some((size, unit)) => format!("{}{unit}", bytes / size),
        None => format!("{bytes}B"),
    }
}

/// The bytes of a memory setting in Postgres's form: a number of kilobytes, or a number
/// with a unit (`B`, `kB`, `MB`, `GB`, `TB`); between 64kB and 2147483647kB, as Postgres
/// allows for `work_mem`.
fn memory_bytes(name: &str, value: &str) -> Result<usize> {
    let text = value.trim();
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || Error::InvalidParameter(format!("invalid value for parameter \"{name}\": \"{value}\""));
    let factor: f64 = match unit.trim() {
        "B" => 1.0,
        "" | "kB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(invalid()),
    };
    let bytes = number.trim().parse::<f64>().map_err(|_| invalid())? * factor;
    let kb = (bytes / 1024.0).round();
    if !(64.0..=f64::from(i32::MAX)).contains(&kb) {
        return Err(Error::InvalidParameter(format!(
            "{kb} kB is outside the valid range for parameter \"{name}\" (64 .. 2147483647)"
        )));
    }
    Ok(kb as usize * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_settings_read_and_write_postgres_units() {
        for (given, bytes, shown) in [
            ("512MB", 512 << 20, "512MB"),
            ("1GB", 1 << 30, "1GB"),
            ("65536", 64 << 20, "64MB"),
            ("1536kB", 1536 << 10, "1536kB"),
            (" 2 GB ", 2 << 30, "2GB"),
        ] {
            assert_eq!(memory_bytes("statement_mem", given).unwrap(), bytes, "{given}");
            assert_eq!(format_memory(bytes), shown);
        }
        for bad in ["", "lots", "5 parsecs", "1mb", "-1MB", "32kB", "3TB"] {
            assert_eq!(memory_bytes("statement_mem", bad).unwrap_err().sqlstate(), "22023", "{bad}");
        }
    }

    #[test]
    fn statement_timeout_reads_postgres_units() {
        let mut s = Settings::default();
        for (given, stored, ms) in [
            ("5000", "5s", 5_000),
            ("1500", "1500ms", 1_500),
            ("2min", "2min", 120_000),
            ("0", "0", 0),
            ("1 h", "1h", 3_600_000),
        ] {
            s.set("statement_timeout", given).unwrap();
            assert_eq!(s.get("statement_timeout").unwrap(), stored);
            assert_eq!(timeout_ms(stored).unwrap(), ms);
        }
        for bad in ["-1", "soon", "5 weeks", "99999999999"] {
            assert_eq!(s.set("statement_timeout", bad).unwrap_err().sqlstate(), "22023", "{bad}");
        }
    }

    #[test]
    fn defaults_and_case_insensitive_names() {
        let s = Settings::default();
        assert_eq!(s.get("datestyle").unwrap(), "ISO, MDY");
        assert_eq!(s.get("TIMEZONE").unwrap(), "UTC");
        assert_eq!(s.get("server_version_num").unwrap(), crate::pg::SERVER_VERSION_NUM);
        assert_eq!(s.name_of("timezone").unwrap(), "TimeZone");
        assert_eq!(s.get("no_such").unwrap_err().sqlstate(), "42704");
    }

    #[test]
    fn set_normalizes_and_reports() {
        let mut s = Settings::default();
        assert_eq!(s.set("application_name", "psql").unwrap(), Some(("application_name".into(), "psql".into())));
        assert_eq!(s.set("extra_float_digits", "3").unwrap(), None);
        assert_eq!(s.get("extra_float_digits").unwrap(), "3");
        assert_eq!(s.set("datestyle", "iso, dmy").unwrap(), Some(("DateStyle".into(), "ISO, DMY".into())));
        assert_eq!(s.set("transaction_isolation", "SERIALIZABLE").unwrap(), None);
        assert_eq!(s.get("transaction isolation level").unwrap(), "serializable");
        assert_eq!(s.set("TimeZone", "Europe/Paris").unwrap(), Some(("TimeZone".into(), "Europe/Paris".into())));
        assert_eq!(s.set("myapp.tenant", "7").unwrap(), None);
        assert_eq!(s.get("MyApp.Tenant").unwrap(), "7");
    }

    #[test]
    fn values_sluice_cannot_honour_are_refused() {
        let mut s = Settings::default();
        assert_eq!(s.set("client_encoding", "LATIN1").unwrap_err().sqlstate(), "0A000");
        assert_eq!(s.set("DateStyle", "German").unwrap_err().sqlstate(), "0A000");
        assert_eq!(s.set("extra_float_digits", "9").unwrap_err().sqlstate(), "22023");
        assert_eq!(s.set("TimeZone", "Mars/Olympus").unwrap_err().sqlstate(), "22023");
        assert_eq!(s.set("server_version", "17").unwrap_err().sqlstate(), "55P02");
        assert_eq!(s.set("no_such", "1").unwrap_err().sqlstate(), "42704");
        assert_eq!(s.get("client_encoding").unwrap(), "UTF8");
    }

    #[test]
    fn reset_restores_defaults() {
        let mut s = Settings::default();
        s.set("search_path", "a, b").unwrap();
        s.set("application_name", "x").unwrap();
        assert_eq!(s.reset("search_path").unwrap(), None);
        assert_eq!(s.get("search_path").unwrap(), "\"$user\", public");
        assert_eq!(s.reset_all(), vec![("application_name".to_string(), String::new())]);
        assert_eq!(s.get("application_name").unwrap(), "");
    }
}
