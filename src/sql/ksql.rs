//! ksqlDB's window syntax, rewritten into Sluice's window table functions before parsing.
//!
//! `WINDOW SESSION (60 SECONDS)` becomes `SESSION(s, INTERVAL '60' SECOND)`;
//! `FROM s [AS a] WINDOW TUMBLING (SIZE 10 SECONDS)` becomes
//! `FROM TUMBLE(s, INTERVAL '10' SECOND) [AS a]`, `WINDOW HOPPING (SIZE 30 SECONDS, ADVANCE
//! BY 10 SECONDS)` becomes `HOP(s, INTERVAL '10' SECOND, INTERVAL '30' SECOND)` (the time
//! column is the stream's watermark column), the window bounds join the GROUP BY, and
//! `WINDOWSTART` / `WINDOWEND` name `window_start` / `window_end`. `EMIT FINAL` (handled by
//! the parser) is `EMIT ON WINDOW CLOSE`. So both dialects compile to the same plan.
//!
//! Called by `super::parser` on the tokens of every SQL text; texts without such a window
//! clause come back unchanged.

use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::error::{Error, Result};

/// Rewrites every ksqlDB window clause in `tokens`.
pub fn rewrite(tokens: Vec<TokenWithSpan>) -> Result<Vec<TokenWithSpan>> {
    let mut tokens: Vec<Token> =
        tokens.into_iter().map(|t| t.token).filter(|t| !matches!(t, Token::Whitespace(_))).collect();
    let mut rewritten = false;
    while let Some(at) = find_window(&tokens) {
        rewrite_one(&mut tokens, at)?;
        rewritten = true;
    }
    if rewritten {
        for token in tokens.iter_mut() {
            match word(token).as_deref() {
                Some("WINDOWSTART") => *token = Token::make_word("window_start", None),
                Some("WINDOWEND") => *token = Token::make_word("window_end", None),
                _ => {}
            }
        }
    }
    Ok(tokens.into_iter().map(TokenWithSpan::wrap).collect())
}

/// An unquoted word, uppercased.
fn word(token: &Token) -> Option<String> {
    match token {
        Token::Word(Word { value, quote_style: None, .. }) => Some(value.to_ascii_uppercase()),
        _ => None,
    }
}

fn is_word(token: Option<&Token>, expected: &str) -> bool {
    token.and_then(word).is_some_and(|w| w == expected)
}

/// The position of `WINDOW TUMBLING|HOPPING|SESSION (`.
fn find_window(tokens: &[Token]) -> Option<usize> {
    (0..tokens.len()).find(|&i| {
        is_word(tokens.get(i), "WINDOW")
            && tokens
                .get(i + 1)
                .and_then(word)
                .is_some_and(|w| matches!(w.as_str(), "TUMBLING" | "HOPPING" | "SESSION"))
            && tokens.get(i + 2) == Some(&Token::LParen)
    })
}

/// The durations in the clause's parenthesis, as interval texts (`10 SECOND`).
#[derive(Default)]
struct Sizes {
    size: Option<String>,
    advance: Option<String>,
    grace: Option<String>,
}

fn rewrite_one(tokens: &mut Vec<Token>, at: usize) -> Result<()> {
    let kind = word(&tokens[at + 1]).unwrap_or_default();
    let close =
        (at + 2..tokens.len()).find(|&i| tokens[i] == Token::RParen).ok_or_else(|| syntax("unclosed window clause"))?;
    let sizes = parse_sizes(&tokens[at + 3..close])?;
    let from = (0..at).rev().find(|&i| is_word(tokens.get(i), "FROM")).ok_or_else(|| syntax("WINDOW needs a FROM"))?;
    let relation = &tokens[from + 1..at];
    let (name, alias) = match relation {
        [name] => (name.clone(), vec![]),
        [name, alias] => (name.clone(), vec![alias.clone()]),
        [name, as_, alias] if is_word(Some(as_), "AS") => (name.clone(), vec![as_.clone(), alias.clone()]),
        _ => {
            return Err(Error::Unsupported(
                "a ksqlDB WINDOW clause must follow a single stream: FROM s [AS a] WINDOW ...".into(),
            ));
        }
    };
    let size = sizes.size.ok_or_else(|| syntax("the window clause needs SIZE, or a gap for WINDOW SESSION"))?;
    let function = match kind.as_str() {
        "TUMBLING" => "tumble",
        "HOPPING" => "hop",
        _ => "session",
    };
    let mut call = vec![Token::make_word(function, None), Token::LParen, name];
    match (kind.as_str(), sizes.advance) {
        ("TUMBLING" | "SESSION", None) => call.extend(interval(&size)),
        ("HOPPING", Some(advance)) => {
            call.extend(interval(&advance));
            call.extend(interval(&size));
        }
        ("HOPPING", None) => return Err(syntax("WINDOW HOPPING needs ADVANCE BY")),
        _ => return Err(syntax("ADVANCE BY belongs to WINDOW HOPPING")),
    }
    call.push(Token::RParen);
    call.extend(alias);
    tokens.splice(from + 1..=close, call);
    if let Some(grace) = sizes.grace {
        add_grace(tokens, from, &grace);
    }
    add_group_by_bounds(tokens, from)
}

/// Appends `GRACE PERIOD INTERVAL 'n' UNIT` to the statement holding position `at`.
fn add_grace(tokens: &mut Vec<Token>, at: usize, grace: &str) {
    let end = (at..tokens.len()).find(|&i| tokens[i] == Token::SemiColon).unwrap_or(tokens.len());
    let mut clause = vec![Token::make_word("GRACE", None), Token::make_word("PERIOD", None)];
    clause.extend(interval(grace).into_iter().skip(1));
    tokens.splice(end..end, clause);
}

/// `SIZE n unit`, `ADVANCE BY n unit`, `GRACE PERIOD n unit`, or a session's bare gap
/// `n unit` (kept as the size); RETENTION is refused.
fn parse_sizes(inner: &[Token]) -> Result<Sizes> {
    let mut sizes = Sizes::default();
    for part in inner.split(|t| *t == Token::Comma) {
        let head: Vec<String> = part.iter().map_while(word).collect();
        match head.first().map(String::as_str) {
            Some("SIZE") => sizes.size = Some(duration(&part[1..])?),
            None if matches!(part.first(), Some(Token::Number(..))) => sizes.size = Some(duration(part)?),
            Some("ADVANCE") if is_word(part.get(1), "BY") => sizes.advance = Some(duration(&part[2..])?),
            Some("GRACE") if is_word(part.get(1), "PERIOD") => sizes.grace = Some(duration(&part[2..])?),
            Some("RETENTION") => return Err(Error::Unsupported("RETENTION is not supported in window clauses".into())),
            _ => return Err(syntax("expected SIZE or ADVANCE BY in the window clause")),
        }
    }
    Ok(sizes)
}

/// `n unit` as an interval text, e.g. `10 SECONDS` -> `10 SECOND`.
fn duration(part: &[Token]) -> Result<String> {
    let [Token::Number(n, _), unit] = part else { return Err(syntax("expected a duration such as 10 SECONDS")) };
    let unit = word(unit).unwrap_or_default();
    let unit = match unit.trim_end_matches('S') {
        "MILLISECOND" => "MILLISECOND",
        "SECOND" => "SECOND",
        "MINUTE" => "MINUTE",
        "HOUR" => "HOUR",
        "DAY" => "DAY",
        _ => return Err(syntax(&format!("unknown time unit \"{unit}\""))),
    };
    Ok(format!("{n} {unit}"))
}

/// `, INTERVAL 'n' UNIT` tokens.
fn interval(duration: &str) -> Vec<Token> {
    let (n, unit) = duration.split_once(' ').unwrap_or((duration, "SECOND"));
    vec![
        Token::Comma,
        Token::make_keyword("INTERVAL"),
        Token::SingleQuotedString(n.to_string()),
        Token::make_keyword(unit),
    ]
}

/// Adds the window bounds to the GROUP BY that follows `from` at the same depth.
fn add_group_by_bounds(tokens: &mut Vec<Token>, from: usize) -> Result<()> {
    let mut depth = 0i32;
    let mut i = from;
    while i + 1 < tokens.len() {
        match &tokens[i] {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => break,
            Token::RParen => depth -= 1,
            _ if depth == 0 && is_word(tokens.get(i), "GROUP") && is_word(tokens.get(i + 1), "BY") => {
                let bounds = [
                    Token::make_word("window_start", None),
                    Token::Comma,
                    Token::make_word("window_end", None),
                    Token::Comma,
                ];
                tokens.splice(i + 2..i + 2, bounds);
                return Ok(());
            }
            _ => {}
        }
        i += 1;
    }
    Err(syntax("a ksqlDB WINDOW clause needs a GROUP BY"))
}

fn syntax(message: &str) -> Error {
    Error::Parse(message.to_string())
}

#[cfg(test)]
mod tests {
    use crate::sql::{Statement, parse};

    fn query_text(sql: &str) -> String {
        match &parse(sql).unwrap()[0] {
            Statement::CreateView(v) => {
                let grace = v.grace.as_ref().map(|g| format!(" [grace {g}]")).unwrap_or_default();
                format!("{}{}{grace}", v.query, if v.emit_on_close { " [final]" } else { "" })
            }
            Statement::Query(q) => q.to_string(),
            _ => panic!("{sql}"),
        }
    }

    #[test]
    fn tumbling_and_hopping_become_window_functions() {
        let tumbling = query_text(
            "CREATE MATERIALIZED VIEW v AS SELECT k, WINDOWSTART, count(*) FROM s WINDOW TUMBLING (SIZE 10 SECONDS) \
             GROUP BY k EMIT FINAL",
        );
        assert_eq!(
            tumbling,
            "SELECT k, window_start, count(*) AS \"count\" FROM tumble(s, INTERVAL '10' SECOND) \
             GROUP BY window_start, window_end, k [final]"
        );
        let hopping = query_text(
            "SELECT k, WindowEnd FROM s AS x WINDOW HOPPING (SIZE 1 MINUTE, ADVANCE BY 20 SECONDS) GROUP BY k",
        );
        assert_eq!(
            hopping,
            "SELECT k, window_end FROM hop(s, INTERVAL '20' SECOND, INTERVAL '1' MINUTE) AS x GROUP BY window_start, window_end, k"
        );
        assert_eq!(query_text("SELECT windowstart FROM t"), "SELECT windowstart FROM t", "untouched without WINDOW");
        let session = query_text("SELECT k, count(*) FROM s WINDOW SESSION (60 SECONDS) GROUP BY k");
        assert_eq!(
            session,
            "SELECT k, count(*) AS \"count\" FROM session(s, INTERVAL '60' SECOND) GROUP BY window_start, window_end, k"
        );
    }

    #[test]
    fn grace_period_moves_to_the_end_of_its_statement() {
        let graced = query_text(
            "CREATE MATERIALIZED VIEW v AS SELECT k, count(*) FROM s WINDOW TUMBLING (SIZE 10 SECONDS, GRACE PERIOD 2 \
             SECONDS) GROUP BY k EMIT FINAL; SELECT 1",
        );
        assert_eq!(
            graced,
            "SELECT k, count(*) AS \"count\" FROM tumble(s, INTERVAL '10' SECOND) GROUP BY window_start, window_end, \
             k [final] [grace INTERVAL '2' SECOND]"
        );
    }

    #[test]
    fn what_is_not_supported_says_so() {
        for (sql, state) in [
            ("SELECT count(*) FROM s WINDOW TUMBLING (SIZE 10 SECONDS, RETENTION 2 DAYS) GROUP BY k", "0A000"),
            ("SELECT count(*) FROM s WINDOW HOPPING (SIZE 10 SECONDS) GROUP BY k", "42601"),
            ("SELECT count(*) FROM s WINDOW TUMBLING (SIZE 10 FORTNIGHTS) GROUP BY k", "42601"),
            ("SELECT count(*) FROM s WINDOW TUMBLING (SIZE 10 SECONDS)", "42601"),
        ] {
            assert_eq!(parse(sql).unwrap_err().sqlstate(), state, "{sql}");
        }
    }
}
