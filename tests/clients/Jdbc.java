// pgjdbc against Sluice: a stream and a materialized view over tests/data/bids_small.json,
// the view read plainly and with a fetch size (named portal, row limit), every type of the
// compatibility list as a parameter and as a result, before and after pgjdbc switches to a
// named server-side statement with binary results, and errors that leave the connection
// usable.
//
// Run by tests/clients.rs: `java -Duser.timezone=Europe/Berlin -cp <dir>:postgresql.jar Jdbc
// <port> [types]` (a zone other than the server's UTC, so that zone offsets are exercised). With
// `types` it runs only the type checks, which also pass against a real Postgres (a way to
// check the expectations). Prints one line per failed check and exits 1 if any failed.

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.function.Function;

import org.postgresql.PGStatement;
import org.postgresql.util.PGInterval;
import org.postgresql.util.PGobject;

public class Jdbc {
    /** Executions of one PreparedStatement: pgjdbc prepares it on the server at the 5th. */
    static final int EXECUTIONS = 7;

    static final List<String> failures = new ArrayList<>();
    static int checks = 0;

    static void check(boolean ok, String what) {
        checks++;
        if (!ok) {
            failures.add(what);
            System.out.println("FAIL " + what);
        }
    }

    static void checkEquals(Object expected, Object actual, String what) {
        check(Objects.deepEquals(expected, actual), what + ": expected " + show(expected) + ", got " + show(actual));
    }

    static String show(Object value) {
        return value instanceof byte[] ? Arrays.toString((byte[]) value) : String.valueOf(value);
    }

    /** Runs one group of checks; an exception fails the group and the others still run. */
    static void section(String name, Connection conn, SqlAction action) {
        try {
            action.run(conn);
        } catch (Throwable e) {
            check(false, name + ": " + e);
            e.printStackTrace(System.out);
        }
    }

    interface SqlAction {
        void run(Connection conn) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/sluice";
        Properties props = new Properties();
        props.setProperty("user", "sluice");
        props.setProperty("prepareThreshold", "5");
        boolean onlyTypes = args.length > 1 && args[1].equals("types");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            if (!onlyTypes) {
                section("create", conn, Jdbc::createStreamAndView);
                section("view", conn, Jdbc::readView);
                section("fetch size", conn, Jdbc::readViewWithFetchSize);
                section("database metadata", conn, Jdbc::databaseMetaData);
            }
            section("types", conn, Jdbc::types);
            section("java.sql setters", conn, Jdbc::legacySetters);
            if (!onlyTypes) {
                section("errors", conn, Jdbc::errors);
            }
        }
        System.out.println("jdbc: " + (checks - failures.size()) + " passed, " + failures.size() + " failed");
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    static void createStreamAndView(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement()) {
            st.execute("CREATE STREAM bids (auction BIGINT, bidder BIGINT, price BIGINT, channel TEXT,"
                    + " date_time TIMESTAMP, WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND)"
                    + " WITH (connector = 'file', path = 'tests/data/bids_small.json', format = 'json')");
            st.execute("CREATE MATERIALIZED VIEW auction_stats AS"
                    + " SELECT auction, window_end, count(*) AS bids, sum(price)::numeric AS total,"
                    + " avg(price) AS average, CAST(max(channel) AS VARCHAR) AS channel,"
                    + " ('{\"bids\": ' || count(*) || '}')::json AS summary"
                    + " FROM TUMBLE(bids, date_time, INTERVAL '10' SECOND) GROUP BY auction, window_end");
            st.execute("FLUSH");
        }
    }

    static final String VIEW_QUERY = "SELECT auction, window_end, bids, total, average, channel, summary"
            + " FROM auction_stats ORDER BY window_end, auction";

    /**
     * The rows of VIEW_QUERY: every window closes at the end of the file; the bid at 10:00:07
     * is late (the watermark is at 10:00:08 by then) and the bid with auction "x" is invalid.
     */
    static final List<List<Object>> VIEW_ROWS = List.of(
            row(1L, "2026-03-01T10:00:10", 3L, "90", "30", "web"),
            row(2L, "2026-03-01T10:00:10", 2L, "45", "22.5", "web"),
            row(1L, "2026-03-01T10:00:20", 1L, "60", "60", "app"),
            row(2L, "2026-03-01T10:00:20", 1L, "40", "40", "app"),
            row(1L, "2026-03-01T10:00:30", 1L, "5", "5", "web"),
            row(2L, "2026-03-01T10:00:30", 1L, "70", "70", "web"));

    static List<Object> row(long auction, String windowEnd, long bids, String total, String average, String channel) {
        return List.of(auction, LocalDateTime.parse(windowEnd), bids, total, average, channel, "{\"bids\": " + bids + "}");
    }

    /** A row of VIEW_QUERY; the numeric as a plain string without trailing zeros. */
    static List<Object> viewRow(ResultSet rs) throws SQLException {
        return List.of(rs.getLong(1), rs.getObject(2, LocalDateTime.class), rs.getLong(3),
                rs.getBigDecimal(4).stripTrailingZeros().toPlainString(),
                rs.getBigDecimal(5).stripTrailingZeros().toPlainString(), rs.getString(6),
                rs.getString(7));
    }

    static void checkViewColumns(ResultSetMetaData md, String what) throws SQLException {
        String[] names = {"auction", "window_end", "bids", "total", "average", "channel", "summary"};
        String[] typeNames = {"int8", "timestamp", "int8", "numeric", "numeric", "varchar", "json"};
        int[] types = {Types.BIGINT, Types.TIMESTAMP, Types.BIGINT, Types.NUMERIC, Types.NUMERIC, Types.VARCHAR,
            Types.OTHER};
        checkEquals(names.length, md.getColumnCount(), what + " column count");
        for (int i = 0; i < names.length; i++) {
            checkEquals(names[i], md.getColumnName(i + 1), what + " column " + (i + 1) + " name");
            checkEquals(typeNames[i], md.getColumnTypeName(i + 1), what + " " + names[i] + " type name");
            checkEquals(types[i], md.getColumnType(i + 1), what + " " + names[i] + " java.sql.Types");
        }
    }

    /**
     * What JDBC tools (DBeaver, DataGrip, Metabase) read through DatabaseMetaData: the stream
     * as a table, the view as a materialized view, the view's columns with their types, and
     * primary keys (there are none).
     */
    static void databaseMetaData(Connection conn) throws SQLException {
        DatabaseMetaData md = conn.getMetaData();
        List<String> tables = new ArrayList<>();
        try (ResultSet rs = md.getTables(null, "public", "%", null)) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
            }
        }
        checkEquals(List.of("auction_stats MATERIALIZED VIEW", "bids TABLE"), tables, "getTables");
        List<String> columns = new ArrayList<>();
        try (ResultSet rs = md.getColumns(null, "public", "auction_stats", null)) {
            while (rs.next()) {
                columns.add(rs.getInt("ORDINAL_POSITION") + " " + rs.getString("COLUMN_NAME") + " "
                        + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE"));
            }
        }
        checkEquals(List.of("1 auction int8 " + Types.BIGINT, "2 window_end timestamp " + Types.TIMESTAMP,
                "3 bids int8 " + Types.BIGINT, "4 total numeric " + Types.NUMERIC,
                "5 average numeric " + Types.NUMERIC, "6 channel varchar " + Types.VARCHAR,
                "7 summary json " + Types.OTHER), columns, "getColumns");
        try (ResultSet rs = md.getPrimaryKeys(null, "public", "bids")) {
            check(!rs.next(), "getPrimaryKeys: Sluice has no keys");
        }
    }

    static void readView(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(VIEW_QUERY)) {
            checkViewColumns(rs.getMetaData(), "view");
            List<List<Object>> rows = new ArrayList<>();
            while (rs.next()) {
                rows.add(viewRow(rs));
            }
            checkEquals(VIEW_ROWS, rows, "view rows");
        }
    }

    /**
     * With autocommit off and a fetch size, pgjdbc reads through a named portal, two rows per
     * Execute (PortalSuspended in between); the same PreparedStatement run EXECUTIONS times
     * also crosses the prepare threshold.
     */
    static void readViewWithFetchSize(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try (PreparedStatement ps = conn.prepareStatement(VIEW_QUERY + " LIMIT ?")) {
            ps.setFetchSize(2);
            for (int run = 1; run <= EXECUTIONS; run++) {
                ps.setInt(1, 10);
                try (ResultSet rs = ps.executeQuery()) {
                    checkViewColumns(rs.getMetaData(), "fetch size run " + run);
                    List<List<Object>> rows = new ArrayList<>();
                    while (rs.next()) {
                        rows.add(viewRow(rs));
                    }
                    checkEquals(VIEW_ROWS, rows, "fetch size run " + run + " rows");
                }
            }
            check(ps.unwrap(PGStatement.class).isUseServerPrepare(), "fetch size: statement prepared on the server");
        } finally {
            conn.commit();
            conn.setAutoCommit(true);
        }
    }

    /** A value of one type: how to bind it, the expected value and how to read it back. */
    record Case(String type, String literal, Object value, Binder binder, Function<ResultSet, Object> reader,
                String typeName, int sqlType) {
    }

    interface Binder {
        void bind(PreparedStatement ps, Object value) throws SQLException;
    }

    static Function<ResultSet, Object> reader(Getter getter) {
        return rs -> {
            try {
                return getter.get(rs);
            } catch (SQLException e) {
                throw new RuntimeException(e);
            }
        };
    }

    interface Getter {
        Object get(ResultSet rs) throws SQLException;
    }

    static PGobject pgObject(String type, String value) throws SQLException {
        PGobject o = new PGobject();
        o.setType(type);
        o.setValue(value);
        return o;
    }

    static List<Case> cases() {
        return List.of(
                new Case("bool", "true", true, (ps, v) -> ps.setBoolean(1, (Boolean) v),
                        reader(rs -> rs.getBoolean(1)), "bool", Types.BIT),
                new Case("int2", "7", (short) 7, (ps, v) -> ps.setShort(1, (Short) v),
                        reader(rs -> rs.getShort(1)), "int2", Types.SMALLINT),
                new Case("int4", "70000", 70000, (ps, v) -> ps.setInt(1, (Integer) v),
                        reader(rs -> rs.getInt(1)), "int4", Types.INTEGER),
                new Case("int8", "1099511627776", 1L << 40, (ps, v) -> ps.setLong(1, (Long) v),
                        reader(rs -> rs.getLong(1)), "int8", Types.BIGINT),
                new Case("float4", "1.5", 1.5f, (ps, v) -> ps.setFloat(1, (Float) v),
                        reader(rs -> rs.getFloat(1)), "float4", Types.REAL),
                new Case("float8", "2.25", 2.25, (ps, v) -> ps.setDouble(1, (Double) v),
                        reader(rs -> rs.getDouble(1)), "float8", Types.DOUBLE),
                // BigDecimal.equals compares the scale too: compare the values.
                new Case("numeric", "12.34", "12.34", (ps, v) -> ps.setBigDecimal(1, new BigDecimal((String) v)),
                        reader(rs -> rs.getBigDecimal(1).stripTrailingZeros().toPlainString()), "numeric",
                        Types.NUMERIC),
                new Case("text", "'héllo'", "héllo", (ps, v) -> ps.setString(1, (String) v),
                        reader(rs -> rs.getString(1)), "text", Types.VARCHAR),
                new Case("varchar", "'v'", "v", (ps, v) -> ps.setString(1, (String) v),
                        reader(rs -> rs.getString(1)), "varchar", Types.VARCHAR),
                new Case("bytea", "'\\x0001ff'", new byte[] {0, 1, (byte) 0xff},
                        (ps, v) -> ps.setBytes(1, (byte[]) v), reader(rs -> rs.getBytes(1)), "bytea", Types.BINARY),
                new Case("date", "'2024-02-29'", LocalDate.of(2024, 2, 29), (ps, v) -> ps.setObject(1, v),
                        reader(rs -> rs.getObject(1, LocalDate.class)), "date", Types.DATE),
                new Case("time", "'13:14:15.123456'", LocalTime.of(13, 14, 15, 123456000),
                        (ps, v) -> ps.setObject(1, v), reader(rs -> rs.getObject(1, LocalTime.class)), "time",
                        Types.TIME),
                new Case("timestamp", "'2024-01-02 03:04:05.678'", LocalDateTime.of(2024, 1, 2, 3, 4, 5, 678000000),
                        (ps, v) -> ps.setObject(1, v), reader(rs -> rs.getObject(1, LocalDateTime.class)),
                        "timestamp", Types.TIMESTAMP),
                new Case("timestamptz", "'2024-01-02 03:04:05+00'",
                        OffsetDateTime.of(2024, 1, 2, 3, 4, 5, 0, ZoneOffset.UTC), (ps, v) -> ps.setObject(1, v),
                        reader(rs -> rs.getObject(1, OffsetDateTime.class)), "timestamptz", Types.TIMESTAMP),
                new Case("interval", "'3 days 04:00:00'", new PGInterval(0, 0, 3, 4, 0, 0),
                        (ps, v) -> ps.setObject(1, v), reader(rs -> rs.getObject(1)), "interval", Types.OTHER),
                new Case("json", "'{\"a\": [1, 2]}'", "{\"a\": [1, 2]}",
                        (ps, v) -> ps.setObject(1, pgObject("json", (String) v)), reader(rs -> rs.getString(1)),
                        "json", Types.OTHER),
                new Case("jsonb", "'{\"b\": true}'", "{\"b\": true}",
                        (ps, v) -> ps.setObject(1, pgObject("jsonb", (String) v)), reader(rs -> rs.getString(1)),
                        "jsonb", Types.OTHER));
    }

    /**
     * Each type as a parameter (`SELECT ?::type`), from a literal, as NULL and as a varchar
     * parameter holding the literal's text, each statement run
     * EXECUTIONS times: text results first, binary ones (for the types pgjdbc reads in binary)
     * once it has prepared the statement on the server.
     */
    static void types(Connection conn) {
        for (Case c : cases()) {
            section(c.type + " parameter", conn, cn -> roundTrip(cn, c, "SELECT ?::" + c.type + " AS v", true));
            section(c.type + " literal", conn,
                    cn -> roundTrip(cn, c, "SELECT CAST(" + c.literal + " AS " + c.type + ") AS v", false));
            section(c.type + " null", conn, cn -> nullRoundTrip(cn, c));
            // The literal's text bound with setString (a varchar parameter), which the server casts.
            String text = c.literal.replaceAll("^'|'$", "");
            Case asText = new Case(c.type, c.literal, c.value, (ps, v) -> ps.setString(1, text), c.reader, c.typeName,
                    c.sqlType);
            section(c.type + " text parameter", conn,
                    cn -> roundTrip(cn, asText, "SELECT ?::" + c.type + " AS v", true));
        }
    }

    /**
     * The java.sql date and time setters, which pgjdbc sends untyped and with the JVM's zone
     * (`13:14:15+00` for a time): the server types them from the cast and ignores the zone of
     * a time, as Postgres does.
     */
    static void legacySetters(Connection conn) throws SQLException {
        java.sql.Timestamp timestamp = java.sql.Timestamp.valueOf("2024-01-02 03:04:05.678");
        java.sql.Date date = java.sql.Date.valueOf("2024-02-29");
        java.sql.Time time = java.sql.Time.valueOf("13:14:15");
        legacyRoundTrip(conn, "SELECT ?::timestamp AS v", ps -> ps.setTimestamp(1, timestamp),
                rs -> rs.getTimestamp(1), timestamp);
        legacyRoundTrip(conn, "SELECT ?::timestamptz AS v", ps -> ps.setTimestamp(1, timestamp),
                rs -> rs.getTimestamp(1), timestamp);
        legacyRoundTrip(conn, "SELECT ?::date AS v", ps -> ps.setDate(1, date), rs -> rs.getDate(1), date);
        legacyRoundTrip(conn, "SELECT ?::time AS v", ps -> ps.setTime(1, time), rs -> rs.getTime(1), time);
    }

    interface Setter {
        void set(PreparedStatement ps) throws SQLException;
    }

    static void legacyRoundTrip(Connection conn, String sql, Setter setter, Getter getter, Object expected)
            throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 1; run <= EXECUTIONS; run++) {
                setter.set(ps);
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), sql + " (run " + run + ") returns a row");
                    checkEquals(expected, getter.get(rs), sql + " (run " + run + ")");
                }
            }
        }
    }

    static void nullRoundTrip(Connection conn, Case c) throws SQLException {
        String sql = "SELECT CAST(NULL AS " + c.type + ") AS v";
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 1; run <= EXECUTIONS; run++) {
                String what = sql + " (run " + run + ")";
                try (ResultSet rs = ps.executeQuery()) {
                    checkEquals(c.typeName, rs.getMetaData().getColumnTypeName(1), what + " type name");
                    check(rs.next(), what + " returns a row");
                    checkEquals(null, rs.getObject(1), what + " value");
                    check(rs.wasNull(), what + " wasNull");
                }
            }
        }
    }

    static void roundTrip(Connection conn, Case c, String sql, boolean bind) throws SQLException {
        try (PreparedStatement ps = conn.prepareStatement(sql)) {
            for (int run = 1; run <= EXECUTIONS; run++) {
                String what = sql + " (run " + run + ")";
                if (bind) {
                    c.binder.bind(ps, c.value);
                }
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    checkEquals(c.typeName, md.getColumnTypeName(1), what + " type name");
                    checkEquals(c.sqlType, md.getColumnType(1), what + " java.sql.Types");
                    check(rs.next(), what + " returns a row");
                    checkEquals(c.value, c.reader.apply(rs), what + " value");
                }
            }
            check(ps.unwrap(PGStatement.class).isUseServerPrepare(), sql + " prepared on the server");
        }
    }

    /** Errors carry their SQLSTATE and leave the connection usable, in and out of transactions. */
    static void errors(Connection conn) throws SQLException {
        expectError(conn, "SELEC 1", "42601");
        expectError(conn, "SELECT * FROM no_such_view", "42P01");
        checkStillUsable(conn, "after errors in autocommit");
        conn.setAutoCommit(false);
        try (PreparedStatement ps = conn.prepareStatement(VIEW_QUERY)) {
            ps.setFetchSize(2);
            try (ResultSet rs = ps.executeQuery()) {
                check(rs.next(), "a row before the error");
            }
            expectError(conn, "SELECT * FROM no_such_view", "42P01");
        } finally {
            conn.rollback();
            conn.setAutoCommit(true);
        }
        checkStillUsable(conn, "after an error in a transaction");
        try (PreparedStatement ps = conn.prepareStatement("SELECT 10::int4 / ?::int4 AS v")) {
            for (int run = 1; run <= EXECUTIONS; run++) {
                ps.setInt(1, run == 6 ? 0 : 2);
                if (run == 6) {
                    expectError(ps, "22012", "division by zero in a prepared statement");
                    continue;
                }
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "10 / 2 returns a row");
                    checkEquals(5, rs.getInt(1), "10 / 2 (run " + run + ")");
                }
            }
        }
    }

    static void expectError(Connection conn, String sql, String sqlState) {
        try (Statement st = conn.createStatement()) {
            st.executeQuery(sql);
            check(false, sql + ": no error");
        } catch (SQLException e) {
            checkEquals(sqlState, e.getSQLState(), sql + " SQLSTATE (" + e.getMessage() + ")");
        }
    }

    static void expectError(PreparedStatement ps, String sqlState, String what) {
        try {
            ps.executeQuery().close();
            check(false, what + ": no error");
        } catch (SQLException e) {
            checkEquals(sqlState, e.getSQLState(), what + " SQLSTATE (" + e.getMessage() + ")");
        }
    }

    static void checkStillUsable(Connection conn, String what) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(VIEW_QUERY)) {
            int rows = 0;
            while (rs.next()) {
                rows++;
            }
            checkEquals(VIEW_ROWS.size(), rows, what + ": view rows");
        }
    }
}
