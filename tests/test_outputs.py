"""Outputs never destroy anything (DESIGN.md "Bad input"; iterate/outputs.py and ``analyze --output``).

A symlink is written through and stays a link, a FIFO / character device / ``/dev/stdout`` is
written into, a regular file keeps its mode; an output that cannot be written is exit code 2
*before* the analysis runs; an input of the analysis (directly, through a symlink or a hard link)
is never overwritten. The CLI is driven through click's CliRunner and, where file descriptors
matter, as a real subprocess.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import at, file_hashes, write_config, write_logs
from iterate.cli import main
from iterate.errors import OutputError
from iterate.outputs import plan_output, write_output

ROOT = Path(__file__).resolve().parents[1]
METRICS = (
    {"name": "conversion", "type": "proportion", "event": "purchase", "role": "success", "direction": "increase"},
)


# ------------------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    """A config whose analysis ships (conversion 10% -> 30% on 400 units per arm), in ``tmp_path/exp``."""
    folder = tmp_path / "exp"
    events, exposures = [], []
    for variant, rate in (("control", 0.10), ("treatment", 0.30)):
        for i in range(400):
            user = f"{variant}-{i}"
            exposures.append({"user_id": user, "experiment": "exp", "variant": variant, "timestamp": at(minutes=i)})
            if i < rate * 400:
                events.append({"user_id": user, "timestamp": at(minutes=i, hours=1), "event": "purchase",
                               "value": 1.0})
    write_logs(folder, events, exposures)
    return write_config(folder, metrics=METRICS)


def analyze(config: Path, output: Path | str, *args: str):
    return CliRunner().invoke(main, ["analyze", str(config), "--format", "json", "--output", str(output), *args])


def inputs_of(config: Path) -> dict[str, str]:
    return file_hashes(config, config.parent / "events.parquet", config.parent / "exposures.parquet")


@pytest.fixture
def no_analysis(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make the analysis record that it ran (and fail): a refused output must leave this list empty."""
    calls: list[str] = []

    def analysis_must_not_run(*args, **kwargs):
        calls.append("analyze")
        raise AssertionError("the analysis ran although the output path is unusable")

    monkeypatch.setattr("iterate.analysis.analyze", analysis_must_not_run)
    return calls


def assert_refused(result, *words: str) -> str:
    """Exit code 2, a one-line message holding ``words``, no traceback, no internal error."""
    output = result.output
    assert result.exit_code == 2, f"exit {result.exit_code}:\n{output}\n{result.exception!r}"
    assert "Traceback" not in output and "internal error" not in output, output
    for word in words:
        assert word in output, f"{word!r} not in:\n{output}"
    return output


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted replace would leave behind."""
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".tmp"))


def read_fifo_in_thread(fifo: Path) -> tuple[threading.Thread, list[bytes]]:
    """Start a reader of ``fifo`` (a writer blocks until one exists); its bytes land in the list."""
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as stream:
            received.append(stream.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader, received


def release_reader(fifo: Path, reader: threading.Thread) -> None:
    """If the reader still waits (the test failed before writing), open the FIFO once to free it."""
    if reader.is_alive() and stat.S_ISFIFO(os.lstat(fifo).st_mode):
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
    reader.join(timeout=5)


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``python -m iterate ARGS`` in a real process, on this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "iterate", *args], cwd=ROOT, env=env, timeout=120, **kwargs)


# ------------------------------------------------------------------------------ plan_output / Output.write


def test_a_new_file_is_replaced_into_place_with_the_usual_mode(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        output = write_output(tmp_path / "report.txt", "ship\n")
    finally:
        os.umask(previous)
    assert output.method == "replace"
    assert (tmp_path / "report.txt").read_text() == "ship\n"
    assert stat.S_IMODE((tmp_path / "report.txt").stat().st_mode) == 0o640  # 0o666 minus the umask, not 0o600
    assert leftovers(tmp_path) == []


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("old report, longer than the new one\n")
    report.chmod(0o640)
    output = write_output(report, "new\n")
    assert output.method == "replace"
    assert report.read_text() == "new\n"
    assert stat.S_IMODE(report.stat().st_mode) == 0o640


def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    target = tmp_path / "reports" / "latest.json"
    target.write_text("old")
    target.chmod(0o604)
    link = tmp_path / "report.json"
    link.symlink_to(Path("reports") / "latest.json")  # relative link
    output = write_output(link, "new")
    assert output.target == target.resolve()
    assert link.is_symlink() and os.readlink(link) == str(Path("reports") / "latest.json")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


def test_a_dangling_symlink_creates_its_target_and_stays_a_link(tmp_path: Path) -> None:
    link = tmp_path / "report.json"
    link.symlink_to(tmp_path / "created.json")
    write_output(link, "{}")
    assert link.is_symlink()
    assert (tmp_path / "created.json").read_text() == "{}"


def test_a_file_in_a_folder_without_write_permission_is_written_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    report = folder / "report.txt"
    report.write_text("old")
    inode = report.stat().st_ino
    folder.chmod(0o555)
    try:
        output = write_output(report, "new")
    finally:
        folder.chmod(0o755)
    assert output.method == "in_place"
    assert report.read_text() == "new"
    assert report.stat().st_ino == inode


def test_a_fifo_is_written_into(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    output = plan_output(fifo)
    assert output.method == "stream"
    reader, received = read_fifo_in_thread(fifo)
    try:
        output.write("through the pipe\n")
        reader.join(timeout=10)
    finally:
        release_reader(fifo, reader)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_character_devices_are_written_into(tmp_path: Path) -> None:
    output = plan_output("/dev/null")
    assert output.method == "stream"  # checked first: a replace would swap /dev/null for a file
    output.write("discarded")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_failed_write_is_an_output_error_naming_the_path() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    output = plan_output("/dev/full", label="--output")
    assert output.method == "stream"
    with pytest.raises(OutputError, match=r"--output /dev/full: could not write: No space left"):
        output.write("x" * 100_000)


@pytest.mark.parametrize(("path", "descriptor"), [("/dev/stdout", 1), ("/dev/stderr", 2), ("/dev/fd/1", 1),
                                                  ("/proc/self/fd/2", 2)])
def test_descriptor_paths_are_written_to_the_open_descriptor(path: str, descriptor: int) -> None:
    output = plan_output(path)
    assert (output.method, output.descriptor) == ("descriptor", descriptor)


def test_a_descriptor_that_is_not_open_is_refused() -> None:
    closed = os.open(os.devnull, os.O_WRONLY)
    os.close(closed)
    with pytest.raises(OutputError, match=rf"/dev/fd/{closed}: descriptor {closed} is not open"):
        plan_output(f"/dev/fd/{closed}")


def test_a_descriptor_open_for_reading_only_is_refused(tmp_path: Path) -> None:
    (tmp_path / "input.txt").write_text("read me")
    descriptor = os.open(tmp_path / "input.txt", os.O_RDONLY)
    try:
        with pytest.raises(OutputError, match=rf"descriptor {descriptor} is open for reading only"):
            plan_output(f"/dev/fd/{descriptor}")
    finally:
        os.close(descriptor)
    assert (tmp_path / "input.txt").read_text() == "read me"


def test_writing_to_a_descriptor_appends_to_what_it_holds(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n")
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        write_output(f"/dev/fd/{descriptor}", "report\n")
    finally:
        os.close(descriptor)
    assert log.read_text() == "earlier line\nreport\n"


def unwritable(tmp_path: Path, case: str) -> tuple[Path, tuple[str, ...]]:
    """An output path that cannot be written, and the words its message must hold."""
    if case == "missing folder":
        return tmp_path / "no" / "such" / "report.json", ("does not exist", "mkdir -p", str(tmp_path / "no" / "such"))
    if case == "read-only folder":
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "report.json", ("is not writable", "chmod u+w", str(folder))
    if case == "a folder":
        (tmp_path / "reports").mkdir()
        return tmp_path / "reports", ("is a folder", str(tmp_path / "reports" / "report.json"))
    if case == "read-only file":
        report = tmp_path / "report.json"
        report.write_text("keep me")
        report.chmod(0o444)
        return report, ("is read-only", "chmod u+w")
    if case == "below a file":
        (tmp_path / "file").write_text("keep me")
        return tmp_path / "file" / "report.json", ("Not a directory",)
    raise AssertionError(case)


UNWRITABLE = ["missing folder", "read-only folder", "a folder", "read-only file", "below a file"]


@pytest.mark.parametrize("case", UNWRITABLE)
def test_unwritable_paths_are_refused_with_the_fix(tmp_path: Path, case: str) -> None:
    path, words = unwritable(tmp_path, case)
    before = file_hashes(tmp_path)
    with pytest.raises(OutputError) as info:
        plan_output(path, label="--output")
    message = str(info.value)
    assert message.startswith(f"--output {path}")
    for word in words:
        assert word in message
    assert file_hashes(tmp_path) == before


def test_a_protected_file_is_refused_even_for_root(tmp_path: Path) -> None:
    """Root may write anything; a file without any write bit is still someone's "do not touch"."""
    report = tmp_path / "report.json"
    report.write_text("keep me")
    report.chmod(0o444)
    with pytest.raises(OutputError, match="read-only"):
        write_output(report, "x")
    assert report.read_text() == "keep me"
    assert stat.S_IMODE(report.stat().st_mode) == 0o444


def test_inputs_are_refused_directly_through_links_and_inside_folders(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "events.parquet"
    log.parent.mkdir()
    log.write_bytes(b"PAR1 data")
    (tmp_path / "link.parquet").symlink_to(log)
    os.link(log, tmp_path / "hard.parquet")
    for path, inputs in [
        (log, [log]),
        (tmp_path / "link.parquet", [log]),  # a symlink onto the input
        (tmp_path / "hard.parquet", [log]),  # another name of the same file
        (tmp_path / "logs" / "new.json", [tmp_path / "logs"]),  # inside an input folder
        (tmp_path / "logs" / "other.parquet", [str(tmp_path / "logs" / "*.parquet")]),  # matches an input glob
    ]:
        with pytest.raises(OutputError, match=r"is an input of this analysis"):
            plan_output(path, inputs=[None, *inputs])
    assert log.read_bytes() == b"PAR1 data"
    assert plan_output(tmp_path / "report.json", inputs=[log, tmp_path / "logs"]).method == "replace"


# ------------------------------------------------------------------------------ iterate analyze --output


def test_output_onto_a_symlink_updates_the_target_and_keeps_the_link(experiment: Path, tmp_path: Path) -> None:
    target = tmp_path / "latest.json"
    target.write_text("{}")
    link = tmp_path / "report.json"
    link.symlink_to(target)
    result = analyze(experiment, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert json.loads(target.read_text())["verdict"] == "ship"


def test_output_keeps_the_mode_of_an_existing_report(experiment: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("{}")
    report.chmod(0o640)
    result = analyze(experiment, report)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(report.stat().st_mode) == 0o640
    assert json.loads(report.read_text())["verdict"] == "ship"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("case", UNWRITABLE)
def test_unwritable_output_is_exit_2_before_the_analysis(experiment: Path, tmp_path: Path, case: str,
                                                         no_analysis: list[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    path, words = unwritable(out, case)
    inputs = inputs_of(experiment)
    before = file_hashes(out)
    assert_refused(analyze(experiment, path), "--output", str(path), *words)
    assert no_analysis == []
    assert inputs_of(experiment) == inputs
    assert file_hashes(out) == before


def test_output_through_a_symlink_onto_an_input_is_refused(experiment: Path, tmp_path: Path,
                                                           no_analysis: list[str]) -> None:
    link = tmp_path / "report.json"
    link.symlink_to(experiment.parent / "events.parquet")
    inputs = inputs_of(experiment)
    assert_refused(analyze(experiment, link), "is an input of this analysis", "events.parquet")
    assert no_analysis == []
    assert inputs_of(experiment) == inputs
    assert link.is_symlink()


def test_output_onto_a_fifo(experiment: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    reader, received = read_fifo_in_thread(fifo)
    try:
        result = analyze(experiment, fifo)
        reader.join(timeout=30)
    finally:
        release_reader(fifo, reader)
    assert result.exit_code == 0, result.output
    assert json.loads(received[0])["verdict"] == "ship"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path) == []


def test_output_onto_a_character_device(experiment: Path, tmp_path: Path) -> None:
    device = tmp_path / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.stat(os.devnull).st_rdev)  # another /dev/null
    except (OSError, AttributeError) as error:
        pytest.skip(f"cannot create a character device here: {error}")
    result = analyze(experiment, device)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert leftovers(tmp_path) == []


def test_output_to_dev_stdout_in_a_real_process(experiment: Path, tmp_path: Path) -> None:
    """Written to descriptor 1 itself: a pipe gets the report, and a file opened for appending
    (``>> log``) keeps its earlier lines (reopening /dev/stdout would truncate it)."""
    piped = run_cli("analyze", str(experiment), "--format", "json", "--output", "/dev/stdout",
                    capture_output=True, text=True)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["verdict"] == "ship"
    assert "report written to /dev/stdout" in piped.stderr

    log = tmp_path / "ci.log"
    log.write_text("earlier line\n")
    with open(log, "a") as appended:
        done = run_cli("analyze", str(experiment), "--format", "json", "--output", "/dev/stdout",
                       stdout=appended, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 0, done.stderr
    text = log.read_text()
    assert text.startswith("earlier line\n")
    assert json.loads(text.removeprefix("earlier line\n"))["verdict"] == "ship"
    assert stat.S_ISREG(log.stat().st_mode)


def test_output_onto_a_fifo_in_a_real_process(experiment: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    reader, received = read_fifo_in_thread(fifo)
    try:
        done = run_cli("analyze", str(experiment), "--format", "json", "--output", str(fifo),
                       capture_output=True, text=True)
        reader.join(timeout=30)
    finally:
        release_reader(fifo, reader)
    assert done.returncode == 0, done.stderr
    assert json.loads(received[0])["verdict"] == "ship"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_unwritable_output_in_a_real_process_is_refused_before_reading_the_logs(experiment: Path,
                                                                              tmp_path: Path) -> None:
    """The logs are missing: had the analysis run, it would fail on them; the output is refused first."""
    (experiment.parent / "events.parquet").unlink()
    missing = tmp_path / "missing" / "report.json"
    done = run_cli("analyze", str(experiment), "--output", str(missing), capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert f"--output {missing}: folder {missing.parent} does not exist" in done.stderr
    assert "events.parquet" not in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
