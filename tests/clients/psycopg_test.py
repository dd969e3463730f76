"""psycopg 3 against Sluice: a stream and a materialized view over tests/data/bids_small.json,
the view read with and without prepared statements, every type of the compatibility list as
a parameter (typed by psycopg's dumpers) and as a result, in text and in binary, and errors
that leave the connection usable.

Run by tests/clients.rs: `python psycopg_test.py <port> [types]`. With `types` it runs only the
type checks, which also pass against a real Postgres (a way to check the expectations).
Prints one line per failed check and exits 1 if any failed.
"""

import datetime
import sys
import threading
from decimal import Decimal

import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.json import Json, Jsonb
from psycopg.types.numeric import Float4, Int2, Int4, Int8

from checks import check, check_equal, finish, section


def oid(name):
    return psycopg.postgres.types[name].oid


def create_stream_and_view(conn):
    conn.execute("""CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT,
        date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)
        WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')""")
    conn.execute("""CREATE MATERIALIZED VIEW auction_stats AS
        SELECT auction, window_end, count(*) AS bids, sum(price)::numeric AS total,
               avg(price) AS average, CAST(max(channel) AS VARCHAR) AS channel,
               ('{"bids": ' || count(*) || '}')::json AS summary
        FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_end""")
    conn.execute("FLUSH")


VIEW_QUERY = ("SELECT auction, window_end, bids, total, average, channel, summary FROM auction_stats "
              "WHERE auction >= %s ORDER BY window_end, auction")

# The rows of VIEW_QUERY: every window closes at the end of the file; the bid at 10:00:07 is
# late (the watermark is at 10:00:08 by then) and the bid with auction "x" is invalid.
# `avg` of a bigint is a numeric, as in Postgres.
VIEW_ROWS = [
    (1, datetime.datetime(2026, 3, 1, 10, 0, 10), 3, Decimal(90), Decimal("30"), "web", {"bids": 3}),
    (2, datetime.datetime(2026, 3, 1, 10, 0, 10), 2, Decimal(45), Decimal("22.5"), "web", {"bids": 2}),
    (1, datetime.datetime(2026, 3, 1, 10, 0, 20), 1, Decimal(60), Decimal("60"), "app", {"bids": 1}),
    (2, datetime.datetime(2026, 3, 1, 10, 0, 20), 1, Decimal(40), Decimal("40"), "app", {"bids": 1}),
    (1, datetime.datetime(2026, 3, 1, 10, 0, 30), 1, Decimal(5), Decimal("5"), "web", {"bids": 1}),
    (2, datetime.datetime(2026, 3, 1, 10, 0, 30), 1, Decimal(70), Decimal("70"), "web", {"bids": 1}),
]

VIEW_COLUMNS = [("auction", "int8"), ("window_end", "timestamp"), ("bids", "int8"), ("total", "numeric"),
                ("average", "numeric"), ("channel", "varchar"), ("summary", "json")]


def read_view(conn):
    """The view in text and binary, with an unnamed statement and a prepared one (Parse,
    Describe statement, then Bind), each prepared run twice."""
    for binary in (False, True):
        for prepare in (False, True, True):
            what = f"view (binary={binary}, prepare={prepare})"
            with conn.cursor(binary=binary) as cur:
                cur.execute(VIEW_QUERY, [Int8(0)], prepare=prepare)
                described = [(d.name, d.type_code) for d in cur.description]
                check_equal([(n, oid(t)) for n, t in VIEW_COLUMNS], described, what + " columns")
                check_equal(VIEW_ROWS, cur.fetchall(), what + " rows")


def describe_before_bind(conn):
    """Parse, then Describe of the statement (parameter and column types) before any Bind,
    through psycopg's libpq wrapper: what drivers that plan ahead (pgjdbc, pipelines) do."""
    pgconn = conn.pgconn
    sql = VIEW_QUERY.replace("%s", "$1").encode()
    prepared = pgconn.prepare(b"stats_from", sql)
    ok = psycopg.pq.ExecStatus.COMMAND_OK
    check(prepared.status == ok, f"prepare: {prepared.get_error_message()}")
    described = pgconn.describe_prepared(b"stats_from")
    check(described.status == ok, f"describe: {described.get_error_message()}")
    check_equal([oid("int8")], [described.param_type(i) for i in range(described.nparams)], "parameter types")
    columns = [(described.fname(i).decode(), described.ftype(i)) for i in range(described.nfields)]
    check_equal([(n, oid(t)) for n, t in VIEW_COLUMNS], columns, "described columns")
    result = pgconn.exec_prepared(b"stats_from", [b"2"])
    check(result.status == psycopg.pq.ExecStatus.TUPLES_OK, f"execute: {result.get_error_message()}")
    auctions = [result.get_value(row, 0) for row in range(result.ntuples)]
    check_equal([b"2", b"2", b"2"], auctions, "rows of auction 2")


# (type, literal, Python value bound with psycopg's dumper for it, expected value read back)
CASES = [
    ("bool", "true", True, True),
    ("int2", "7", Int2(7), 7),
    ("int4", "70000", Int4(70000), 70000),
    ("int8", "1099511627776", Int8(2**40), 2**40),
    ("float4", "1.5", Float4(1.5), 1.5),
    ("float8", "2.25", 2.25, 2.25),
    ("numeric", "12.34", Decimal("12.34"), Decimal("12.34")),
    ("text", "'héllo'", "héllo", "héllo"),
    ("varchar", "'v'", "v", "v"),
    ("bytea", "'\\x0001ff'", b"\x00\x01\xff", b"\x00\x01\xff"),
    ("date", "'2024-02-29'", datetime.date(2024, 2, 29), datetime.date(2024, 2, 29)),
    ("time", "'13:14:15.123456'", datetime.time(13, 14, 15, 123456), datetime.time(13, 14, 15, 123456)),
    ("timestamp", "'2024-01-02 03:04:05.678'", datetime.datetime(2024, 1, 2, 3, 4, 5, 678000),
     datetime.datetime(2024, 1, 2, 3, 4, 5, 678000)),
    ("timestamptz", "'2024-01-02 03:04:05+00'",
     datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
     datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)),
    ("interval", "'3 days 04:00:00.000005'", datetime.timedelta(days=3, hours=4, microseconds=5),
     datetime.timedelta(days=3, hours=4, microseconds=5)),
    ("json", "'{\"a\": [1, 2]}'", Json({"a": [1, 2]}), {"a": [1, 2]}),
    ("jsonb", "'{\"b\": true}'", Jsonb({"b": True}), {"b": True}),
]


def types(conn):
    """Each type as a parameter (`SELECT %s::type`) and from a literal, then NULL both ways,
    with text and binary parameters and results; parameters carry the OID psycopg's dumper
    gives them (a None is untyped)."""
    for type_name, literal, value, expected in CASES:
        for binary in (False, True):
            param = PyFormat.BINARY if binary else PyFormat.TEXT
            queries = [(f"SELECT %{param.value}::{type_name} AS v", [value], expected),
                       (f"SELECT CAST({literal} AS {type_name}) AS v", None, expected),
                       (f"SELECT %{param.value}::{type_name} AS v", [None], None),
                       (f"SELECT CAST(NULL AS {type_name}) AS v", None, None)]
            for sql, params, want in queries:
                what = f"{sql} {params} binary={binary}"
                section(what, round_trip, conn, sql, params, binary, type_name, want)


def round_trip(conn, sql, params, binary, type_name, expected):
    what = f"{sql} {params} (binary={binary})"
    with conn.cursor(binary=binary) as cur:
        cur.execute(sql, params)
        check_equal(oid(type_name), cur.description[0].type_code, what + " type")
        got = cur.fetchone()[0]
        if type_name == "timestamptz" and expected is not None:
            # The session time zone decides the offset shown: compare instants.
            check(got == expected and got.tzinfo is not None, f"{what}: expected {expected!r}, got {got!r}")
        else:
            check_equal(expected, got, what + " value")


def errors(conn):
    """Errors carry their SQLSTATE, with and without prepared statements, and the connection
    stays usable after each."""
    expect_error(conn, "SELEC 1", None, "42601")
    expect_error(conn, "SELECT * FROM no_such_view", None, "42P01")
    expect_error(conn, "SELECT * FROM no_such_view WHERE x = %s", [1], "42P01", prepare=True)
    expect_error(conn, "SELECT 10::int4 / %s::int4", [Int4(0)], "22012", prepare=True)
    with conn.cursor() as cur:
        cur.execute(VIEW_QUERY, [Int8(0)], prepare=True)
        check_equal(VIEW_ROWS, cur.fetchall(), "view after errors")


def subscribe(conn):
    """COPY (SUBSCRIBE ...) TO STDOUT read with psycopg's copy.rows(), which parses one row
    from each CopyData message: every row of the view's snapshot (one commit) arrives."""
    rows = []
    timer = threading.Timer(30, conn.cancel)  # a missing row must not hang the test
    timer.start()
    try:
        with conn.cursor().copy("COPY (SUBSCRIBE TO auction_stats) TO STDOUT") as copy:
            for row in copy.rows():
                rows.append(row)
                if len(rows) == len(VIEW_ROWS):
                    conn.cancel()
    except psycopg.errors.QueryCanceled:
        pass
    finally:
        timer.cancel()
    expected = sorted((str(r[0]), r[1].strftime("%Y-%m-%d %H:%M:%S")) for r in VIEW_ROWS)
    check_equal(["insert"] * len(VIEW_ROWS), [r[0] for r in rows], "subscribe: every row of the snapshot")
    check_equal(expected, sorted((r[2], r[3]) for r in rows), "subscribe: the snapshot's windows")
    check_equal([(1,)], conn.execute("SELECT 1").fetchall(), "subscribe: the connection goes on")


def expect_error(conn, sql, params, sqlstate, prepare=None):
    try:
        conn.execute(sql, params, prepare=prepare)
        check(False, f"{sql}: no error")
    except psycopg.Error as e:
        check_equal(sqlstate, e.sqlstate, f"{sql} SQLSTATE ({e})")


def main():
    port = sys.argv[1]
    only_types = len(sys.argv) > 2 and sys.argv[2] == "types"
    conninfo = f"host=127.0.0.1 port={port} user=sluice dbname=sluice connect_timeout=10"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if not only_types:
            section("create", create_stream_and_view, conn)
            section("view", read_view, conn)
            section("describe before bind", describe_before_bind, conn)
        section("types", types, conn)
        if not only_types:
            section("errors", errors, conn)
            section("subscribe", subscribe, conn)
    finish(f"psycopg {psycopg.__version__}")


if __name__ == "__main__":
    main()
