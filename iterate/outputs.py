"""Writing outputs without destroying anything (DESIGN.md, "Bad input": no output path is clobbered).

An output is checked before any work is done (:func:`plan_output`, which raises
:class:`~iterate.errors.OutputError` naming the path and the fix), and written once its text
exists (:meth:`Output.write`). How it is written depends on what the path is:

* **a new path or a regular file**: into a temporary file of the same folder, then
  ``os.replace``\\ d onto it, so a reader never sees half a report; an existing file keeps its
  permission bits (not its owner, hard links or extended attributes: it is a new file);
* **a symlink**: the same at the link's target, so the link stays a link;
* **a regular file in a folder iterate cannot write into**: truncated and written in place;
* **a FIFO or a character device**: opened and written into (no temporary file, no replace);
* **``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``, ``/proc/self/fd/N``**: written to that open
  descriptor, never reopened, so ``>> log`` keeps the log's earlier lines.

Refused: a missing folder, a folder or a file without write permission (a file or folder with no
write bit at all is refused even for root: someone protected it), a folder, a socket or a block
device, a descriptor that is not open, and an input of the analysis (also through a symlink or a
hard link). The CLI's ``--output`` uses this module; so can any command writing files.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.txt"
    >>> output = plan_output(path)
    >>> output.method
    'replace'
    >>> output.write("ship\\n")
    >>> path.read_text()
    'ship\\n'
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from iterate.errors import OutputError

__all__ = ["Output", "plan_output", "write_output"]

Method = Literal["replace", "in_place", "stream", "descriptor"]

_NAMED_DESCRIPTORS = {"/dev/stdin": 0, "/dev/stdout": 1, "/dev/stderr": 2}
_DESCRIPTOR_PATH = re.compile(r"^/(?:dev/fd|proc/self/fd)/(\d+)$")
_ANY_WRITE_BIT = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


@dataclass(frozen=True, slots=True)
class Output:
    """A checked output path and how it will be written.

    Attributes:
        path: The path as given (used in messages).
        target: The file actually written: ``path`` with every symlink followed.
        method: ``replace`` (temporary file + ``os.replace``), ``in_place`` (truncate and write),
            ``stream`` (FIFO or character device, written into) or ``descriptor`` (an open
            descriptor such as ``/dev/stdout``).
        descriptor: The descriptor number, for ``descriptor``.
        label: How messages name the output, e.g. ``--output``.
    """

    path: Path
    target: Path
    method: Method
    descriptor: int | None = None
    label: str = "output"

    def write(self, text: str) -> None:
        """Write ``text`` (UTF-8) as :attr:`method` says.

        Raises:
            OutputError: The write failed (disk full, reader gone, permissions changed meanwhile).
        """
        data = text.encode("utf-8")
        try:
            if self.method == "descriptor":
                _write_descriptor(self.descriptor, data)
            elif self.method == "replace":
                _replace(self.target, data)
            else:
                with open(self.target, "wb") as stream:
                    stream.write(data)
        except OSError as error:
            reason = error.strerror or error
            raise OutputError(f"{self.label} {_describe(self.path, self.target)}: could not write: {reason}; "
                              "check the disk and the path, or choose another path") from None


def plan_output(path: str | Path, *, inputs: Iterable[str | Path | None] = (), label: str = "output") -> Output:
    """Check that ``path`` can be written without destroying anything, and say how.

    Args:
        path: Where the output goes.
        inputs: Files, folders or globs that the output must not overwrite (``None`` ignored).
        label: How messages name the output (``--output`` in the CLI).

    Returns:
        The :class:`Output` to :meth:`~Output.write` once the text exists.

    Raises:
        OutputError: ``path`` cannot be written, or is one of ``inputs``; the message names the
            path and the fix.
    """
    path = Path(path)
    descriptor = _descriptor_of(path)
    if descriptor is not None:
        _check_descriptor(path, descriptor, label)
        return Output(path, path, "descriptor", descriptor, label)
    target = Path(os.path.realpath(path))
    _refuse_inputs(path, target, inputs, label)
    return Output(path, target, _method(path, target, label), None, label)


def write_output(path: str | Path, text: str, *, inputs: Iterable[str | Path | None] = (),
                 label: str = "output") -> Output:
    """:func:`plan_output` then :meth:`Output.write`, for an output whose text is already known."""
    output = plan_output(path, inputs=inputs, label=label)
    output.write(text)
    return output


# ------------------------------------------------------------------------------ checks


def _method(path: Path, target: Path, label: str) -> Method:
    """How an existing or new ``target`` is written; an :class:`OutputError` when it cannot be."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        _check_folder(path, target, label)
        return "replace"
    except OSError as error:
        raise OutputError(f"{label} {path}: cannot be used: {error.strerror}; choose another path") from None
    where = _describe(path, target)
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(f"{label} {where} is a folder; give a file path, e.g. {path / 'report.json'}")
    if not (stat.S_ISREG(status.st_mode) or stat.S_ISFIFO(status.st_mode) or stat.S_ISCHR(status.st_mode)):
        raise OutputError(f"{label} {where} is a {_kind(status.st_mode)}, not a file, FIFO or terminal; "
                          "choose a file path")
    if not _writable(target, status.st_mode):
        raise OutputError(f"{label} {where} is read-only (mode {stat.filemode(status.st_mode)}); "
                          f"make it writable (chmod u+w {target}) or choose another path")
    if not stat.S_ISREG(status.st_mode):
        return "stream"
    return "replace" if _folder_writable(target.parent) else "in_place"


def _check_folder(path: Path, target: Path, label: str) -> None:
    """The folder of a new file exists and can take a new file."""
    folder = target.parent
    where = _describe(path, target)
    if not folder.exists():
        raise OutputError(f"{label} {where}: folder {folder} does not exist; "
                          f"create it (mkdir -p {folder}) or choose another path")
    if not folder.is_dir():
        raise OutputError(f"{label} {where}: {folder} is not a folder; choose another path")
    if not _folder_writable(folder):
        raise OutputError(f"{label} {where}: folder {folder} is not writable; "
                          f"make it writable (chmod u+w {folder}) or choose another folder")


def _writable(path: Path, mode: int) -> bool:
    """Writable by this process, and not write-protected by its mode (no write bit at all)."""
    return os.access(path, os.W_OK) and bool(mode & _ANY_WRITE_BIT)


def _folder_writable(folder: Path) -> bool:
    """A new file can be created (and a file renamed) in ``folder``."""
    return os.access(folder, os.W_OK | os.X_OK) and bool(os.stat(folder).st_mode & _ANY_WRITE_BIT)


def _kind(mode: int) -> str:
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"


def _describe(path: Path, target: Path) -> str:
    """``path``, and where it leads when it is a symlink."""
    return f"{path} (a link to {target})" if os.path.islink(path) else str(path)


def _descriptor_of(path: Path) -> int | None:
    """The descriptor number named by ``/dev/stdout``, ``/dev/fd/N``..., else ``None``."""
    text = os.path.normpath(str(path))
    if text in _NAMED_DESCRIPTORS:
        return _NAMED_DESCRIPTORS[text]
    match = _DESCRIPTOR_PATH.match(text)
    return int(match.group(1)) if match else None


def _check_descriptor(path: Path, descriptor: int, label: str) -> None:
    """The descriptor is open, and not for reading only."""
    try:
        os.fstat(descriptor)
    except OSError:
        raise OutputError(f"{label} {path}: descriptor {descriptor} is not open in this process; "
                          "redirect it or choose a file path") from None
    try:
        import fcntl
    except ImportError:  # not POSIX: a read-only descriptor fails when written
        return
    if fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        raise OutputError(f"{label} {path}: descriptor {descriptor} is open for reading only; "
                          "redirect it for writing or choose a file path")


def _refuse_inputs(path: Path, target: Path, inputs: Iterable[str | Path | None], label: str) -> None:
    """Refuse an output that is, lies inside, matches a glob of, or is a link to an input."""
    for given in inputs:
        if given is None or str(given) == "":
            continue
        if _clashes(target, str(given)):
            raise OutputError(f"{label} {_describe(path, target)} is an input of this analysis ({given}); "
                              "choose another file")


def _clashes(target: Path, given: str) -> bool:
    source = Path(given)
    if glob.has_magic(given):
        return fnmatch.fnmatch(str(target), os.path.realpath(source))
    if source.is_dir():
        return Path(os.path.realpath(source)) in target.parents
    if Path(os.path.realpath(source)) == target:
        return True
    try:
        return os.path.samefile(source, target)  # a hard link to an input
    except OSError:
        return False


# ------------------------------------------------------------------------------ writing


def _replace(target: Path, data: bytes) -> None:
    """Write a temporary file beside ``target``, give it ``target``'s mode, rename it onto ``target``."""
    mode = _mode_to_keep(target)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_to_keep(target: Path) -> int:
    """The permission bits of the existing file, else those a plain ``open`` would give (0o666 - umask)."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_descriptor(descriptor: int | None, data: bytes) -> None:
    """Write all of ``data`` to an open descriptor, after what Python has buffered for it."""
    assert descriptor is not None
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]
