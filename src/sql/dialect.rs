//! The SQL dialect Sluice parses with: sqlparser's Postgres dialect, with a bound on the
//! work one statement may cost the parser.
//!
//! sqlparser backtracks: when an expression fails to parse one way it tries another
//! (`CASE` as a keyword, then as a name), and nested failures multiply, so that 25 nested
//! `CASE`s with one misspelled `WHEN` took 35 s. `sql::parser` parses with a [`Dialect`]
//! made for the statement's token count; it counts the expressions the parser starts
//! (every one goes through `parse_prefix`) and refuses the statement with 54001 once they
//! exceed [`PREFIX_BUDGET_PER_TOKEN`] per token, which a linear parse never comes near.
//! Everything else is the Postgres dialect's.

use std::any::TypeId;
use std::cell::Cell;

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::{Dialect as SqlDialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

/// Expressions the parser may start per token of the statement, plus [`PREFIX_BUDGET_BASE`].
/// A statement that parses without backtracking starts at most about one per token.
pub(crate) const PREFIX_BUDGET_PER_TOKEN: usize = 64;
/// The budget every text gets whatever its length.
const PREFIX_BUDGET_BASE: usize = 100_000;

/// The message of a parse that ran out of budget; `sql::parser` turns it into 54001.
pub(crate) const TOO_COMPLEX: &str = "statement is too complex to parse";

/// Postgres' dialect with a parse budget; one per parse.
#[derive(Debug)]
pub(crate) struct Dialect {
    postgres: PostgreSqlDialect,
    /// Expression starts left before the parse is refused.
    budget: Cell<usize>,
}

impl Dialect {
    /// A dialect for parsing a text of `tokens` tokens.
    pub(crate) fn for_tokens(tokens: usize) -> Self {
        let budget = tokens.saturating_mul(PREFIX_BUDGET_PER_TOKEN).saturating_add(PREFIX_BUDGET_BASE);
        Dialect { postgres: PostgreSqlDialect {}, budget: Cell::new(budget) }
    }

    /// True once the parse has used up its budget: whatever error it ended with, the
    /// statement was too complex.
    pub(crate) fn exhausted(&self) -> bool {
        self.budget.get() == 0
    }
}

/// Methods the Postgres dialect answers that take nothing but `self`.
macro_rules! postgres_flags {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool { self.postgres.$name() })*
    };
}

impl SqlDialect for Dialect {
    fn dialect(&self) -> TypeId {
        // sqlparser asks "is this the Postgres dialect?" by type: it is.
        TypeId::of::<PostgreSqlDialect>()
    }

    fn parse_prefix(&self, _parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        match self.budget.get().checked_sub(1) {
            Some(left) => {
                self.budget.set(left);
                None
            }
            None => Some(Err(ParserError::ParserError(TOO_COMPLEX.into()))),
        }
    }

    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        self.postgres.identifier_quote_style(identifier)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.postgres.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.postgres.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.postgres.is_identifier_part(ch)
    }

    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool {
        self.postgres.is_reserved_for_identifier(kw)
    }

    fn is_custom_operator_part(&self, ch: char) -> bool {
        self.postgres.is_custom_operator_part(ch)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        self.postgres.get_next_precedence(parser)
    }

    fn prec_value(&self, prec: Precedence) -> u8 {
        self.postgres.prec_value(prec)
    }

    postgres_flags!(
        supports_unicode_string_literal,
        supports_filter_during_aggregation,
        supports_group_by_expr,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_listen_notify,
        supports_factorial_operator,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_colon_operator,
        supports_named_fn_args_with_expr_name,
        supports_empty_projections,
        supports_nested_comments,
        supports_string_escape_constant,
        supports_numeric_literal_underscores,
        supports_array_typedef_with_brackets,
        supports_geometric_types,
        supports_set_names,
        supports_alter_column_type_using,
        supports_notnull_operator,
        supports_interval_options,
        supports_insert_table_alias,
        supports_create_table_like_parenthesized,
        supports_select_wildcard_with_alias,
        supports_comma_separated_trim,
        supports_xml_expressions,
        supports_comment_optimizer_hint,
    );
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    use super::*;

    fn parse(sql: &str) -> Result<Vec<datafusion::sql::sqlparser::ast::Statement>, ParserError> {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location()?;
        let dialect = Dialect::for_tokens(tokens.len());
        Parser::new(&dialect).with_tokens_with_locations(tokens).parse_statements()
    }

    /// `levels` nested CASEs whose innermost WHEN is misspelled.
    fn nested_case(levels: usize) -> String {
        let mut expr = "CASE WHN x = 1 THEN 1 END".to_string();
        for _ in 1..levels {
            expr = format!("CASE WHEN x = 1 THEN {expr} ELSE 0 END");
        }
        format!("SELECT {expr} FROM t")
    }

    #[test]
    fn parses_like_postgres() {
        let sql = "SELECT CASE WHEN a THEN 1 END, DATE '2020-01-01', x::int, 'a' ~ 'b', 3! FROM t";
        let via_wrapper = parse(sql).expect("parses").remove(0).to_string();
        let via_postgres = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0).to_string();
        assert_eq!(via_wrapper, via_postgres);
    }

    #[test]
    fn nested_misspelled_case_fails_within_budget() {
        let sql = nested_case(40);
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, &sql).tokenize_with_location().expect("tokens");
        let dialect = Dialect::for_tokens(tokens.len());
        let parsed = Parser::new(&dialect).with_tokens_with_locations(tokens).parse_statements();
        // The parser backtracks exponentially here; the budget ends it.
        assert!(parsed.is_err());
        // The same statement spelled right parses.
        assert!(parse(&nested_case(40).replace("WHN", "WHEN")).is_ok());
    }

    #[test]
    fn a_parse_over_budget_is_refused() {
        let sql = "SELECT 1 + 2 + 3 + 4 + 5 + 6 + 7";
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().expect("tokens");
        let dialect = Dialect { postgres: PostgreSqlDialect {}, budget: Cell::new(5) };
        let err = Parser::new(&dialect).with_tokens_with_locations(tokens).parse_statements().expect_err("refused");
        assert!(dialect.exhausted());
        assert!(err.to_string().contains(TOO_COMPLEX), "{err}");
    }
}
