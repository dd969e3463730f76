"""SQLAlchemy over psycopg 3 against Sluice, the way Superset and other BI tools browse a
database: an engine connects (SQLAlchemy's own first queries), `inspect()` lists schemas,
tables, views and materialized views and the columns of each, a table is reflected with
`autoload_with`, and a reflected materialized view is queried with SQLAlchemy Core.

Run by tests/clients.rs: `python sqlalchemy_test.py <port>`. Prints one line per failed
check and exits 1 if any failed.
"""

import datetime
import sys

import sqlalchemy
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.dialects import postgresql

from checks import check, check_equal, finish, section


def create_stream_and_view(engine):
    with engine.connect() as conn:
        conn.execute(text("""CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT,
            channel TEXT, date_time TIMESTAMP,
            WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
            WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')"""))
        conn.execute(text("""CREATE MATERIALIZED VIEW auction_stats AS
            SELECT auction, window_end, count(*) AS bids, max(channel) AS channel
            FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_end"""))
        conn.execute(text("FLUSH"))
        conn.commit()


def column_types(columns):
    return [(c["name"], type(c["type"]).__name__, c["nullable"]) for c in columns]


def listings(engine):
    insp = inspect(engine)
    check("public" in insp.get_schema_names(), "get_schema_names lists public")
    check_equal(["bids"], insp.get_table_names(schema="public"), "get_table_names")
    check_equal(["bids"], insp.get_table_names(), "get_table_names in the default schema")
    check_equal([], insp.get_view_names(schema="public"), "get_view_names")
    check_equal(["auction_stats"], insp.get_materialized_view_names(schema="public"),
                "get_materialized_view_names")
    check(insp.has_table("bids"), "has_table(bids)")
    check(not insp.has_table("nope"), "has_table(nope) is false")


def columns(engine):
    insp = inspect(engine)
    check_equal([("auction", "BIGINT", True), ("bidder", "BIGINT", True), ("price", "BIGINT", True),
                 ("channel", "TEXT", True), ("date_time", "TIMESTAMP", True)],
                column_types(insp.get_columns("bids", schema="public")), "get_columns(bids)")
    stats = insp.get_columns("auction_stats", schema="public")
    check_equal([("auction", "BIGINT", True), ("window_end", "TIMESTAMP", True), ("bids", "BIGINT", True),
                 ("channel", "TEXT", True)],
                column_types(stats), "get_columns(auction_stats)")
    check(all(c["default"] is None for c in stats), "no column has a default")
    check_equal({"constrained_columns": [], "name": None}, insp.get_pk_constraint("bids"), "get_pk_constraint")
    check_equal([], insp.get_foreign_keys("bids"), "get_foreign_keys")


def reflect_and_query(engine):
    stats = Table("auction_stats", MetaData(), autoload_with=engine)
    check_equal(["auction", "window_end", "bids", "channel"], [c.name for c in stats.columns],
                "reflected columns")
    check(isinstance(stats.c.window_end.type, postgresql.TIMESTAMP), "window_end is a TIMESTAMP")
    query = (select(stats.c.auction, stats.c.window_end, stats.c.bids)
             .where(stats.c.auction == 1).order_by(stats.c.window_end))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
    check_equal([(1, datetime.datetime(2026, 3, 1, 10, 0, 10), 3),
                 (1, datetime.datetime(2026, 3, 1, 10, 0, 20), 1),
                 (1, datetime.datetime(2026, 3, 1, 10, 0, 30), 1)], rows, "rows of the reflected view")


def main():
    port = sys.argv[1]
    engine = create_engine(f"postgresql+psycopg://sluice@127.0.0.1:{port}/sluice")
    create_stream_and_view(engine)
    section("listings", listings, engine)
    section("columns", columns, engine)
    section("reflect and query", reflect_and_query, engine)
    finish(f"sqlalchemy {sqlalchemy.__version__}")


if __name__ == "__main__":
    main()
