"""The history store: records read back, concurrent writers, files that are not histories."""

from __future__ import annotations

import multiprocessing

import duckdb
import pytest

from history_rows import metric_row, result_of
from iterate.config import Experiment, Metric
from iterate.errors import HistoryError
from iterate.history.store import SCHEMA_VERSION, HistoryStore, recommended_variant

EXPERIMENT = Experiment(name="checkout", control="control",
                        metrics=(Metric("conversion", "proportion", event="purchase"),
                                 Metric("retention_7", "retention", event="app_open", role="guardrail", days=(7, 7))))


def _result(name: str = "checkout", verdict: str = "ship", relative: float = 0.02):
    return result_of(name, verdict, [
        metric_row("conversion", relative=relative, low=relative - 0.01, high=relative + 0.01, p_value=0.001,
                   outcome="better"),
        metric_row("retention_7", role="guardrail", relative=-0.008, low=-0.009, high=-0.007, margin=0.01,
                   noninferior=True),
    ])


def test_a_record_reads_back(tmp_path):
    store = HistoryStore(tmp_path / "history.duckdb")
    assert store.record(_result(), EXPERIMENT, run_seconds=1.5) == 1
    assert store.record(_result(verdict="continue"), EXPERIMENT) == 2
    releases = store.releases()
    assert [(r.id, r.experiment, r.verdict, r.recommended_variant) for r in releases] == [
        (1, "checkout", "ship", "treatment"), (2, "checkout", "continue", None)]
    assert releases[0].run_seconds == 1.5
    estimates = store.estimates("retention_7")
    assert [(e.analysis_id, e.relative_effect, e.relative_ci_low, e.direction) for e in estimates] == [
        (1, -0.008, -0.009, "increase"), (2, -0.008, -0.009, "increase")]
    stored = store.stored(1)
    assert stored.verdict == "ship" and stored.config["name"] == "checkout"
    with duckdb.connect(str(tmp_path / "history.duckdb"), read_only=True) as connection:
        assert connection.execute("SELECT version FROM iterate_history_schema").fetchall() == [(SCHEMA_VERSION,)]
        assert connection.execute("SELECT count(*) FROM metric_estimates").fetchone() == (4,)


def _record_many(path: str, worker: int, count: int) -> None:
    store = HistoryStore(path, timeout=120)
    for i in range(count):
        store.record(_result(name=f"worker{worker}", relative=i / 1000), EXPERIMENT, run_seconds=0.0)


def test_two_processes_recording_at_once_give_every_record_and_an_intact_file(tmp_path):
    path = str(tmp_path / "history.duckdb")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_record_many, args=(path, worker, 20)) for worker in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=300)
    assert [process.exitcode for process in workers] == [0, 0]
    releases = HistoryStore(path).releases()
    assert len(releases) == 40
    assert [r.id for r in releases] == list(range(1, 41))
    assert sorted(r.experiment for r in releases) == ["worker1"] * 20 + ["worker2"] * 20
    with duckdb.connect(path, read_only=True) as connection:
        assert connection.execute("SELECT count(*), count(DISTINCT analysis_id) FROM metric_estimates").fetchone() == (80, 40)
        assert connection.execute("SELECT count(*) FROM checks").fetchone() == (0,)
    assert HistoryStore(path).record(_result(), EXPERIMENT) == 41  # the file takes more records


def test_a_busy_history_fails_clearly_after_the_wait(tmp_path):
    import fcntl

    path = tmp_path / "history.duckdb"
    with open(tmp_path / "history.duckdb.lock", "a+b") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        with pytest.raises(HistoryError, match=r"still locked by another process after 0.2 s"):
            HistoryStore(path, timeout=0.2).record(_result(), EXPERIMENT)
    assert not path.exists()


@pytest.mark.parametrize("content", [b"not a database\n", b"PAR1" + b"\0" * 100])
def test_a_file_that_is_not_a_history_is_refused(tmp_path, content):
    path = tmp_path / "history.duckdb"
    path.write_bytes(content)
    with pytest.raises(HistoryError, match="is not an iterate history file"):
        HistoryStore(path).record(_result(), EXPERIMENT)
    assert path.read_bytes() == content


def test_another_duckdb_database_is_refused(tmp_path):
    path = tmp_path / "app.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("CREATE TABLE events (x INTEGER)")
    with pytest.raises(HistoryError, match="a DuckDB database but not an iterate history"):
        HistoryStore(path).releases()
    with pytest.raises(HistoryError, match="a DuckDB database but not an iterate history"):
        HistoryStore(path).record(_result(), EXPERIMENT)


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "history.duckdb"
    HistoryStore(path).record(_result(), EXPERIMENT)
    with duckdb.connect(str(path)) as connection:
        connection.execute("UPDATE iterate_history_schema SET version = 99")
    with pytest.raises(HistoryError, match="schema version 99, newer"):
        HistoryStore(path).releases()


def test_a_missing_record_names_the_range(tmp_path):
    store = HistoryStore(tmp_path / "history.duckdb")
    store.record(_result(), EXPERIMENT)
    with pytest.raises(HistoryError, match=r"no record #5 \(it holds records 1 to 1\)"):
        store.stored(5)
    with pytest.raises(HistoryError, match="does not exist"):
        HistoryStore(tmp_path / "missing.duckdb").stored(1)


def test_the_recommended_variant_of_several_shipped_arms_has_the_largest_gain():
    rows = [metric_row("conversion", variant="b", relative=0.01, outcome="better", p_value=0.001),
            metric_row("conversion", variant="c", relative=0.03, outcome="better", p_value=0.001)]
    assert recommended_variant(result_of("x", "ship", rows)) == "c"
    assert recommended_variant(result_of("x", "continue", rows)) is None
