"""The DuckDB engine and dialect, checked against independent references (polars, numpy, scipy,
``math.fsum``, Python's datetime arithmetic and hand computations), never against their own output."""

from __future__ import annotations

import inspect
import math
import re
from datetime import date, datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from helpers import BASE, file_hashes, write_frame
from iterate.engines import ENGINES, create_engine, open_engine
from iterate.engines.base import Dialect, Engine, Rows
from iterate.engines.dialects import DIALECTS, DUCKDB, DuckDBDialect
from iterate.engines.duckdb import DuckDBEngine
from iterate.errors import ConfigError, DataError, IterateError
from iterate.templates import Parameters, Query

@pytest.fixture
def engine():
    created = DuckDBEngine()
    yield created
    created.close()


def run(engine, sql: str, **values) -> Rows:
    return engine.execute(Query("test", sql, values))


def column(engine, sql: str, **values) -> list:
    return [row[0] for row in run(engine, sql, **values).values]


def one(engine, sql: str, **values):
    return run(engine, sql, **values).first()[0]


@pytest.mark.parametrize(("protocol", "implementation", "instance"),
                         [(Engine, DuckDBEngine, None), (Dialect, DuckDBDialect, DUCKDB)])
def test_protocol_conformance(engine, protocol, implementation, instance) -> None:
    wanted = {name: member for name, member in vars(protocol).items()
              if inspect.isfunction(member) and not name.startswith("_")}
    assert len(wanted) >= 10  # the introspection found the methods
    for name, member in wanted.items():  # the same parameter names, in the same order
        assert list(inspect.signature(getattr(implementation, name)).parameters) \
            == list(inspect.signature(member).parameters), name
    for attribute in protocol.__annotations__:
        assert hasattr(instance or engine, attribute), attribute


def test_dialect_registry_and_constant_spellings(engine) -> None:
    assert engine.dialect is DUCKDB and DIALECTS["duckdb"] is DUCKDB and DUCKDB.name == "duckdb"
    assert one(engine, f"WITH t {DUCKDB.materialized_cte} (SELECT 7 AS a) SELECT a FROM t") == 7
    assert one(engine, f"SELECT typeof(CAST(1 AS {DUCKDB.text_type}))") == "VARCHAR"
    assert one(engine, f"SELECT typeof({DUCKDB.hash_combine('1', '2')})") == DUCKDB.hash_type
    assert DUCKDB.placeholder("p0") == "$p0" and DUCKDB.placeholder("seed") == "$seed"
    parameters = Parameters(DUCKDB)
    assert one(engine, f"SELECT {parameters.bind(40)} + {parameters.bind(2)}", **parameters.values) == 42


def test_create_engine_and_open_engine(engine) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"must be one of {', '.join(ENGINES)}")):
        create_engine("nope")
    with open_engine(engine) as opened:
        assert opened is engine
    assert one(engine, "SELECT 1") == 1  # the caller's engine is left open
    with open_engine() as created:
        assert isinstance(created, DuckDBEngine) and one(created, "SELECT 2") == 2
    with pytest.raises(duckdb.Error):
        one(created, "SELECT 3")
    with pytest.raises(RuntimeError), open_engine() as failing:
        raise RuntimeError("boom")
    with pytest.raises(duckdb.Error):
        one(failing, "SELECT 4")  # closed on the way out of an exception too


# -------------------------------------------------------------------------------- execute


def test_execute_lower_cases_columns_and_binds_parameters_by_name(engine) -> None:
    rows = run(engine, "SELECT 1 AS Answer, $x + 1 AS MixedCase, $name AS Label", x=41, name="ok")
    assert rows.columns == ("answer", "mixedcase", "label")
    assert rows.first() == (1, 42, "ok")
    assert rows.dicts() == [{"answer": 1, "mixedcase": 42, "label": "ok"}]
    assert run(engine, "SELECT i AS I, $x * i AS Twice FROM range(3) t(i) ORDER BY i", x=2).dicts() == [
        {"i": 0, "twice": 0}, {"i": 1, "twice": 2}, {"i": 2, "twice": 4}]
    created = run(engine, "CREATE TEMP TABLE t (A INTEGER)")
    assert list(created.values) == [] and created.dicts() == []  # DuckDB >= 2 still names a Count column
    assert run(engine, "SELECT * FROM t").columns == ("a",)
    assert Rows((), []).dicts() == [] and Rows(("a",), [[5]]).first() == (5,)
    assert engine.create_table("tab", Query("t", "SELECT $x AS X", {"x": 6})) == '"tab"'
    assert engine.create_view("v", Query("t", 'SELECT x + 1 AS Y FROM "tab"')) == '"v"'
    assert run(engine, 'SELECT * FROM "v"').dicts() == [{"y": 7}]


# -------------------------------------------------------------------------- error mapping


def test_unreadable_files_become_data_errors_and_sql_bugs_propagate(engine, tmp_path) -> None:
    garbage = tmp_path / "garbage.parquet"
    garbage.write_text("this is not a parquet file\n")
    with pytest.raises(DataError, match="garbage.parquet") as caught:
        engine.register_files("logs", [str(garbage)], "parquet")
    assert "\n" not in str(caught.value) and isinstance(caught.value.__cause__, duckdb.Error)
    with pytest.raises(DataError, match="missing.parquet"):
        engine.register_files("logs", [str(tmp_path / "missing.parquet")], "parquet")
    with pytest.raises(DataError, match=r"^Catalog Error: .*no_such_view[^\n]*$"):  # DuckDB's first line only
        engine.describe('"no_such_view"')

    # integers for 50 000 rows (beyond the sniffer's sample), then a word: fails only when scanned
    lines = ["user_id,value", *(f"{i},{i}" for i in range(50_000)), "50000,oops", "50001,1"]
    csv = tmp_path / "late.csv"
    csv.write_text("\n".join(lines) + "\n")
    view = engine.register_files("logs", [str(csv)], "csv")
    assert engine.describe(view) == {"user_id": "BIGINT", "value": "BIGINT"}
    # the message names the file, the line, the column and the value (issue 9, defect 5)
    with pytest.raises(DataError, match=r"^cannot read .*late\.csv, line 50,002: column `value`: .*\"oops\".* "
                                        r"\(the line: '50000,oops'\); fix or remove that line$") as caught:
        run(engine, f"SELECT sum(value) FROM {view}")
    assert isinstance(caught.value.__cause__, (duckdb.ConversionException, duckdb.InvalidInputException))
    # read as text, the same file scans to the end: the caller converts and counts the bad values
    text = engine.register_files("logs", [str(csv)], "csv", text_columns=["user_id", "value"])
    assert engine.describe(text) == {"user_id": "VARCHAR", "value": "VARCHAR"}
    assert run(engine, f"SELECT count(*) FILTER (WHERE TRY_CAST(value AS DOUBLE) IS NULL) FROM {text}").first() == (1,)

    # a line with a field too many, past the sample: the file, the line, the fields and the line itself
    lines = ["user_id,value", *(f"{i},{i}" for i in range(50_000)), "50000,1,2", "50001,1"]
    csv.write_text("\n".join(lines) + "\n")
    view = engine.register_files("logs", [str(csv)], "csv", text_columns=["user_id", "value"])
    with pytest.raises(DataError, match=r"^cannot read .*late\.csv, line 50,002: 3 fields where the header has 2 "
                                        r"\(the line: '50000,1,2'\); fix or remove that line$"):
        run(engine, f"SELECT count(*) FILTER (WHERE user_id IS NULL) FROM {view}")

    with pytest.raises(duckdb.BinderException, match="no_such_column") as caught:
        run(engine, f"SELECT no_such_column FROM {view}")
    assert not isinstance(caught.value, IterateError)


# -------------------------------------------------------------------------------- sources


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_register_files_unites_columns_by_name(engine, tmp_path, fmt) -> None:
    first = pl.DataFrame({"user_id": ["u1", "u2"], "value": [1.5, None]})
    second = pl.DataFrame({"value": [3.5], "n": [7], "user_id": ["u3"]})  # other order, one more column
    files = [str(write_frame(df, tmp_path / f"{i}.{fmt}", fmt)) for i, df in enumerate((first, second))]
    view = engine.register_files("logs", files, fmt)
    assert view == '"logs"'
    assert engine.describe(view) == {"user_id": "VARCHAR", "value": "DOUBLE", "n": "BIGINT"}
    expected = pl.concat([first, second], how="diagonal").sort("user_id")
    assert run(engine, f"SELECT user_id, value, n FROM {view} ORDER BY user_id").dicts() == expected.to_dicts()


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_register_files_reads_text_columns_as_text(engine, tmp_path, fmt) -> None:
    """The columns named are text whatever the reader would guess; the others keep its types, on
    every DuckDB version (1.4's relation views dropped the types given to read_csv)."""
    first = pl.DataFrame({"user_id": ["u1"], "when": ["2026-01-05T10:00:00+09:00"], "day": ["2026-01-05"],
                          "it's": [1.5]})
    second = pl.DataFrame({"day": ["2026-01-06"], "when": ["2026-01-05T10:00:00-06:00"], "user_id": ["u2"],
                           "it's": [None], "n": [7]})
    files = [str(write_frame(df, tmp_path / f"{i}.{fmt}", fmt)) for i, df in enumerate((first, second))]
    sniffed = engine.describe(engine.register_files("logs", files, fmt))
    assert sniffed["when"] == "TIMESTAMP WITH TIME ZONE" or fmt == "ndjson"  # NDJSON: VARCHAR before DuckDB 2.0
    view = engine.register_files("logs", files, fmt, text_columns=("when",))
    assert engine.describe(view) == {**sniffed, "when": "VARCHAR"}
    assert run(engine, f'SELECT user_id, "when", "it\'s", n FROM {view} ORDER BY user_id').values == [
        ("u1", "2026-01-05T10:00:00+09:00", 1.5, None), ("u2", "2026-01-05T10:00:00-06:00", None, 7)]


def test_a_zoned_column_of_a_csv_file_keeps_its_offset_through_the_dialect(engine, tmp_path) -> None:
    """Regression: DuckDB 2.0.0 and 2.0.1 push ``CAST(<TIMESTAMPTZ> AS TIMESTAMP)`` into a CSV scan
    when the column is read through the cast alone, and the reader then drops the offset."""
    csv = tmp_path / "zoned.csv"
    csv.write_text("user_id,timestamp\nu1,2026-01-05T08:30:00+09:00\nu2,2026-01-05T23:30:00+09:00\n")
    view = engine.register_files("logs", [str(csv)], "csv")
    type_class = DUCKDB.type_class(engine.describe(view)["timestamp"])
    converted = DUCKDB.to_timestamp('"timestamp"', type_class)
    engine.create_view("normalized", Query("t", f"SELECT {converted} AS ts, user_id FROM {view}"))
    assert run(engine, 'SELECT min(ts), max(ts) FROM "normalized"').first() == (datetime(2026, 1, 4, 23, 30),
                                                                                 datetime(2026, 1, 5, 14, 30))
    assert column(engine, 'SELECT ts FROM "normalized" ORDER BY user_id') == [datetime(2026, 1, 4, 23, 30),
                                                                              datetime(2026, 1, 5, 14, 30)]


def test_register_frame_and_a_new_source_replaces_the_old_one(engine, tmp_path) -> None:
    df = pl.DataFrame({"user_id": ["a", "b", "c"], "timestamp": [BASE, BASE + timedelta(seconds=1.5), None],
                       "n": [1, None, 3], "value": [0.5, 1.5, None]})
    view = engine.register_frame("logs", df.to_arrow())
    assert engine.describe(view) == {"user_id": "VARCHAR", "timestamp": "TIMESTAMP", "n": "BIGINT", "value": "DOUBLE"}
    assert run(engine, f"SELECT * FROM {view} ORDER BY user_id").values == df.rows()
    view = engine.register_frame("logs", df.to_pandas())
    assert column(engine, f"SELECT value FROM {view} WHERE user_id = 'b'") == [1.5]

    # regression: a registered frame used to shadow a later view of the same name
    files = {fmt: str(write_frame(pl.DataFrame({"user_id": [fmt]}), tmp_path / f"a.{fmt}", fmt))
             for fmt in ("parquet", "csv")}
    frames = {"arrow": pl.DataFrame({"user_id": ["arrow"]}).to_arrow(), "pandas": pd.DataFrame({"user_id": ["pandas"]})}
    make_database(tmp_path / "t.duckdb", events="SELECT 'table' AS user_id")
    for label in ("parquet", "arrow", "csv", "pandas", "table", "arrow", "parquet", "table"):
        view = (engine.register_frame("events", frames[label]) if label in frames
                else engine.register_table("events", str(tmp_path / "t.duckdb"), "events") if label == "table"
                else engine.register_files("events", [files[label]], label))
        assert column(engine, f"SELECT user_id FROM {view}") == [label]


def make_database(path, **tables: str) -> None:
    with duckdb.connect(str(path)) as con:
        for name, select in tables.items():
            con.execute(f"CREATE TABLE {name} AS {select}")


def test_register_table_reads_a_duckdb_database(engine, tmp_path) -> None:
    database = tmp_path / "logs.duckdb"
    make_database(database, events="SELECT * FROM (VALUES ('u1', 2), ('u2', 3)) t(user_id, n)",
                  exposures="SELECT 'u1' AS user_id, 'control' AS variant")
    before = file_hashes(database)
    events = engine.register_table("events", str(database), "events")
    exposures = engine.register_table("exposures", str(database), "exposures")  # the same file, attached once
    assert (events, exposures) == ('"events"', '"exposures"')
    assert run(engine, f"SELECT e.user_id, n, variant FROM {events} e JOIN {exposures} x USING (user_id)").values \
        == [("u1", 2, "control")]
    assert engine.describe(events) == {"user_id": "VARCHAR", "n": "INTEGER"}
    with pytest.raises(DataError, match=r"table `nope` not found in .*logs\.duckdb \(tables there: events, exposures"):
        engine.register_table("other", str(database), "nope")
    not_a_database = tmp_path / "text.duckdb"
    not_a_database.write_text("hello\n")
    with pytest.raises(DataError, match="cannot open DuckDB database .*text.duckdb"):
        engine.register_table("broken", str(not_a_database), "events")
    assert file_hashes(database) == before
    assert column(engine, "SELECT readonly FROM duckdb_databases() WHERE path LIKE '%logs.duckdb'") == [True]


def test_register_table_again_under_the_same_name_with_another_database(engine, tmp_path) -> None:
    make_database(tmp_path / "a.duckdb", events="SELECT 'a' AS user_id")
    make_database(tmp_path / "b.duckdb", events="SELECT 'b' AS user_id")
    engine.register_table("events", str(tmp_path / "a.duckdb"), "events")
    view = engine.register_table("events", str(tmp_path / "b.duckdb"), "events")
    assert column(engine, f"SELECT user_id FROM {view}") == ["b"]


def test_footer_null_counts_equal_polars_null_counts(engine, tmp_path) -> None:
    first = pl.DataFrame({"a": [1, None, 3, None], "b": [None, "x", "y", "z"], "c": [1.0, 2.0, 3.0, 4.0]})
    second = pl.DataFrame({"a": [None, 5], "b": [None, None], "c": [None, 6.0]})
    files = [str(write_frame(df, tmp_path / f"{i}.parquet")) for i, df in enumerate((first, second))]
    assert dict(engine.footer_null_counts(files)) == pl.concat([first, second]).null_count().to_dicts()[0]
    no_statistics = tmp_path / "bare.parquet"
    first.write_parquet(no_statistics, statistics=False)
    assert dict(engine.footer_null_counts([files[0], str(no_statistics)])) == {"a": None, "b": None, "c": None}


@pytest.mark.parametrize("fmt", ["parquet", "csv", "ndjson"])
def test_write_file_keeps_the_sorted_order(tmp_path, fmt) -> None:
    rng = np.random.default_rng(11)
    df = pl.DataFrame({"k": rng.permutation(20_000), "x": rng.normal(size=20_000).round(6)})
    expected = df.filter(pl.col("x") > 0).sort("k", descending=True)
    engine = create_engine("duckdb", keep_row_order=True)
    try:
        assert one(engine, "SELECT current_setting('preserve_insertion_order')") is True
        view = engine.register_frame("source", df.to_arrow())
        query = Query("test", f"SELECT k, x FROM {view} WHERE x > $zero ORDER BY k DESC", {"zero": 0.0})
        written = engine.write_file(query, tmp_path / f"out.{fmt}", fmt)
    finally:
        engine.close()
    read = {"parquet": pl.read_parquet, "csv": pl.read_csv, "ndjson": pl.read_ndjson}[fmt](tmp_path / f"out.{fmt}")
    assert written == expected.height
    assert read.select("k", "x").rows() == expected.rows()


# ------------------------------------------------------------------------ dialect fragments


def test_time_fragments_match_python_datetime(engine) -> None:
    start = datetime(2026, 1, 5, 10, 0, 0, 250_000)
    assert one(engine, f"SELECT $t + {DUCKDB.seconds('$s')}", t=start, s=90061.5) == start + timedelta(seconds=90061.5)
    assert one(engine, f"SELECT $t + {DUCKDB.seconds('$s')}", t=start, s=-3600) == start - timedelta(hours=1)
    epoch = one(engine, f"SELECT {DUCKDB.epoch_seconds('$t')}", t=start)
    assert epoch == start.replace(tzinfo=timezone.utc).timestamp() == 1_767_607_200.25
    last = datetime(2026, 1, 5, 23, 59, 59, 999_999)
    assert one(engine, f"SELECT {DUCKDB.utc_date('$t')}", t=last) == date(2026, 1, 5)
    for micros in (0, 1_767_607_200_250_001, 1_000_000_000_000_007):
        assert one(engine, f"SELECT {DUCKDB.timestamp_from_microseconds('$m')}", m=micros) \
            == datetime(1970, 1, 1) + timedelta(microseconds=micros)


def test_exact_sum_and_quantile_match_fsum_and_numpy(engine) -> None:
    rng = np.random.default_rng(2026)
    values = 1e8 + rng.standard_normal(10_000)
    view = engine.register_frame("v", pl.DataFrame({"x": values}).to_arrow())
    exact, plain = run(engine, f"SELECT {DUCKDB.exact_sum('x')} / count(*), avg(x) FROM {view}").first()
    assert exact == math.fsum(values.tolist()) / len(values)  # bit for bit
    # plain avg is off in the last bits here (observed with DuckDB 2.0), hence exact_sum
    assert plain == pytest.approx(exact, rel=1e-13)
    sample = rng.exponential(size=101)
    skewed = engine.register_frame("s", pl.DataFrame({"x": sample}).to_arrow())
    for probability in (0.0, 0.1, 0.25, 0.5, 0.9, 0.975, 1.0):
        got = one(engine, f"SELECT {DUCKDB.quantile('x', '$p')} FROM {skewed}", p=probability)
        assert got == pytest.approx(np.quantile(sample, probability, method="linear"), rel=1e-14, abs=0), probability
    # by hand: type 7 on 1, 2, 3, 10 at 0.5 is 2.5, at 0.9 is 3 + 0.7 * 7
    hand = "(SELECT CAST(x AS DOUBLE) AS x FROM (VALUES (3), (10), (1), (2)) t(x))"
    assert [one(engine, f"SELECT {DUCKDB.quantile('x', p)} FROM {hand}") for p in ("0.5", "0.9")] \
        == pytest.approx([2.5, 7.9])


def test_arg_min_skips_nulls_and_arg_min_keep_null_does_not(engine) -> None:
    rows = "(VALUES ('u1', NULL, 1), ('u1', 'ios', 2), ('u1', 'web', 3), ('u2', 'web', 5), ('u2', 'ios', 4)) t(u, v, o)"
    got = run(engine, f"SELECT u, {DUCKDB.arg_min('v', 'o')}, {DUCKDB.arg_min_keep_null('v', 'o')} "
                      f"FROM {rows} GROUP BY u ORDER BY u").values
    assert got == [("u1", "ios", None), ("u2", "ios", "ios")]


def test_ranges_count_from_zero(engine) -> None:
    assert column(engine, f"SELECT r.i FROM {DUCKDB.integer_range('$n', 'r', 'i')} ORDER BY r.i", n=7) == list(range(7))
    assert column(engine, f"SELECT r.i FROM {DUCKDB.integer_range('$n', 'r', 'i')}", n=0) == []
    got = run(engine, f"SELECT k, {DUCKDB.unnest_range('k')} AS j FROM (VALUES (2), (3), (0)) t(k) ORDER BY k, j")
    assert got.values == [(k, j) for k in (2, 3) for j in range(k)]


def test_hash_uniform_is_reproducible_and_uniform(engine) -> None:
    sql = (f"SELECT {DUCKDB.hash_uniform('r.i', '$stream')} FROM {DUCKDB.integer_range('$n', 'r', 'i')} "
           "ORDER BY r.i")
    stream = 4_702_111_234_474_983_745  # a 63-bit stream constant, as iterate.simulate uses
    draws = np.array(column(engine, sql, n=20_000, stream=stream))
    assert ((draws >= 0) & (draws < 1)).all()
    assert np.array_equal(draws, column(engine, sql, n=20_000, stream=stream))
    assert stats.kstest(draws, "uniform").pvalue > 1e-3
    other = np.array(column(engine, sql, n=20_000, stream=stream + 2**40))
    assert not np.array_equal(other, draws) and abs(np.corrcoef(draws, other)[0, 1]) < 0.05


def test_unit_uniform_depends_on_unit_draw_and_seed(engine) -> None:
    def u(unit, draw: int, seed: int) -> float:
        return one(engine, f"SELECT {DUCKDB.unit_uniform('$unit', '$draw', '$seed')}", unit=unit, draw=draw, seed=seed)

    for unit in ("user-1", 42):
        value = u(unit, 3, 7)
        assert 0 <= value < 1 and u(unit, 3, 7) == value
        assert len({value, u(unit, 4, 7), u(unit, 3, 8)}) == 3
    assert u("user-1", 0, 0) != u("user-2", 0, 0) and u(42, 0, 0) != u(43, 0, 0)
    sql = f"SELECT {DUCKDB.unit_uniform(chr(39) + 'user-' + chr(39) + ' || r.i', '$draw', '$seed')} " \
          f"FROM {DUCKDB.integer_range('$n', 'r', 'i')}"
    assert stats.kstest(column(engine, sql, n=20_000, draw=5, seed=0), "uniform").pvalue > 1e-3


TYPE_CLASSES = {
    "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "time", "TIMESTAMP_NS": "time", "TIMESTAMP_MS": "time",
    "DATE": "time", "INTEGER": "integer", "BIGINT": "integer", "UBIGINT": "integer", "HUGEINT": "integer",
    "DOUBLE": "number", "FLOAT": "number", "DECIMAL(18,3)": "decimal", "BOOLEAN": "boolean",
    "VARCHAR": "text", "UUID": "text", "BLOB": "other", "INTERVAL": "other", "TIME": "other",
}


def test_type_class_of_duckdb_type_names(engine) -> None:
    # the names come from DESCRIBE, as the ingest layer gets them
    relation = ", ".join(f"CAST(NULL AS {name}) AS c{i}" for i, name in enumerate(TYPE_CLASSES))
    described = list(engine.describe(f"(SELECT {relation})").values())
    assert described == list(TYPE_CLASSES)
    for name, expected in TYPE_CLASSES.items():
        assert DUCKDB.type_class(name) == DUCKDB.type_class(name.lower()) == expected, name


TO_TIMESTAMP = [  # SQL value, then the naive UTC time expected (computed by hand)
    ("TIMESTAMP '2026-01-05 10:00:00.5'", datetime(2026, 1, 5, 10, 0, 0, 500_000)),
    ("TIMESTAMPTZ '2026-01-05 10:00:00+02:00'", datetime(2026, 1, 5, 8)),
    ("CAST('2026-01-05 10:00:00.123456' AS TIMESTAMP_NS)", datetime(2026, 1, 5, 10, 0, 0, 123_456)),
    ("DATE '2026-01-05'", datetime(2026, 1, 5)),
    ("CAST(1767607200 AS BIGINT)", datetime(2026, 1, 5, 10)),
    ("CAST(1767607200.25 AS DOUBLE)", datetime(2026, 1, 5, 10, 0, 0, 250_000)),
    ("CAST(1767607200.125 AS DECIMAL(18,3))", datetime(2026, 1, 5, 10, 0, 0, 125_000)),
    ("'2026-01-05T10:00:00+02:00'", datetime(2026, 1, 5, 8)),
    ("'2026-01-05T10:00:00-05:30'", datetime(2026, 1, 5, 15, 30)),
    ("'2026-01-05 23:30:00Z'", datetime(2026, 1, 5, 23, 30)),
    ("'2026-01-05 10:00:00'", datetime(2026, 1, 5, 10)),
    ("'2026-01-05'", datetime(2026, 1, 5)),
    ("'not a time'", None),
    ("'2026-13-45 10:00'", None),
    ("CAST(NULL AS VARCHAR)", None),
]


NAIVE_TEXT = ("'2026-01-05 10:00:00'", "'2026-01-05'")


@pytest.mark.parametrize(("value", "expected"), TO_TIMESTAMP)
def test_to_timestamp_converts_every_type_class_to_naive_utc(engine, value, expected) -> None:
    type_class = DUCKDB.type_class(one(engine, f"SELECT typeof({value})"))
    assert one(engine, f"SELECT {DUCKDB.to_timestamp('c', type_class)} FROM (SELECT {value} AS c)") == expected
    if value.startswith("'2026") and expected is not None:  # the hand values agree with Python's reading
        parsed = datetime.fromisoformat(value.strip("'"))
        assert (parsed - (parsed.utcoffset() or timedelta())).replace(tzinfo=None) == expected


@pytest.mark.parametrize(("value", "expected"), [case for case in TO_TIMESTAMP if case[0] not in NAIVE_TEXT])
@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns"])
def test_to_timestamp_does_not_depend_on_the_session_time_zone(value, expected, zone) -> None:
    """Only strings without an offset are read in the session's zone (DuckDBEngine's is UTC)."""
    with duckdb.connect() as con:
        con.execute(f"SET TimeZone = '{zone}'")
        type_class = DUCKDB.type_class(con.execute(f"SELECT typeof({value})").fetchone()[0])
        assert con.execute(f"SELECT {DUCKDB.to_timestamp('c', type_class)} FROM (SELECT {value} AS c)").fetchone()[0] \
            == expected


def test_unit_uniform_accepts_any_integer_seed(engine) -> None:
    values = {seed: one(engine, f"SELECT {DUCKDB.unit_uniform('$u', '$d', '$s')}", u="user-1", d=1, s=seed)
              for seed in (-1, 2**64 - 1, 0, 2**63, 2**64 + 2**63)}
    assert all(0 <= value < 1 for value in values.values())
    assert values[-1] == values[2**64 - 1] and values[2**63] == values[2**64 + 2**63]  # the seed counts modulo 2^64
    assert len({values[-1], values[0], values[2**63]}) == 3
