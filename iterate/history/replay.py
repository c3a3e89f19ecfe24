"""Replay a recorded analysis: ``iterate analyze --replay history.duckdb#17``.

The record's stored configuration (the effective experiment, overrides included) is analyzed
again on its logs, and the result says, in the warning check ``replay``, whether the data changed
since (the fingerprints compared: files added, gone or changed, row counts, time ranges) and
whether the verdict is the same.

The history's own rules (online-FDR alpha, release-train budget) are not applied again and the
replay is not recorded: a verdict those rules changed shows as changed, with the recorded reasons
in the history.

Syntax of RECORD: ``PATH#ID`` (the record id that ``iterate history PATH`` lists), or ``PATH``
alone for the latest record.

Example:
    >>> parse_record("history.duckdb#17")
    ('history.duckdb', 17)
"""

from __future__ import annotations

from dataclasses import replace

from iterate.errors import HistoryError
from iterate.history.store import HistoryStore
from iterate.result import AnalysisResult, Check


def parse_record(spec: str) -> tuple[str, int | None]:
    """``PATH#ID`` as ``(PATH, ID)``, ``PATH`` as ``(PATH, None)`` (the latest record).

    Raises:
        HistoryError: the id is not a positive whole number.
    """
    path, hash_sign, number = spec.rpartition("#")
    if not hash_sign:
        return spec, None
    if not number.isdigit() or int(number) < 1:
        raise HistoryError(f"--replay {spec}: `{number}` is not a record id; write PATH#ID, such as history.duckdb#17")
    return path, int(number)


def replay(spec: str) -> AnalysisResult:
    """Analyze a recorded analysis again; the result carries the check ``replay``.

    Raises:
        HistoryError: no such history or record.
    """
    from iterate.analysis import analyze
    from iterate.config.document import experiment_from_document
    from iterate.provenance import fingerprint_differences

    path, record_id = parse_record(spec)
    store = HistoryStore(path)
    if record_id is None:
        releases = store.releases()
        if not releases:
            raise HistoryError(f"history file {path} holds no record to replay" if store.path.exists() else
                               f"history file {path} does not exist; check the path of --replay")
        record_id = releases[-1].id
    stored = store.stored(record_id)
    experiment = experiment_from_document(stored.config)
    result = analyze(experiment.replace(history=None))
    current = result.as_document()["provenance"]
    differences = (["no data fingerprint was recorded"] if stored.fingerprint is None
                   else fingerprint_differences(stored.fingerprint, current["data"]))
    same_verdict = stored.verdict == result.verdict
    data = "the data changed since: " + "; ".join(differences) if differences else "the data is unchanged"
    verdict = (f"the verdict is the same ({result.verdict})" if same_verdict
               else f"the verdict changed: {stored.verdict} then, {result.verdict} now")
    check = Check(
        name="replay",
        passed=not differences and same_verdict,
        message=f"replay of record #{record_id} of {path}: {data}; {verdict}",
        severity="warning",
        details={"history": path, "record": record_id, "data_changed": bool(differences), "differences": differences,
                 "recorded_verdict": stored.verdict, "verdict": result.verdict, "same_verdict": same_verdict,
                 "config_hash_same": stored.config_hash == current["config_hash"]},
    )
    return replace(result, checks=(*result.checks, check))
