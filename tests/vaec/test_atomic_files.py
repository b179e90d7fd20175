"""Atomic writes: the data is on disk before the new name points at it."""

from __future__ import annotations

import errno
import os

import pytest

from vaec import persistence
from vaec.persistence import atomic_write_text


def test_the_file_is_flushed_to_disk_before_it_is_renamed(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.realpath(src), os.path.realpath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(persistence.os, "fsync", fsync)
    monkeypatch.setattr(persistence.os, "replace", replace)
    target = tmp_path / "report.json"
    atomic_write_text(target, '{"a": 1}')

    assert target.read_text() == '{"a": 1}'
    (rename,) = [e for e in events if e[0] == "replace"]
    renamed_at = events.index(rename)
    # the temporary file's data first, then the rename, then the folder that holds the new name
    assert ("fsync", rename[1]) in events[:renamed_at]
    assert ("fsync", str(tmp_path.resolve())) in events[renamed_at:]
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_full_disk_is_an_os_error_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    atomic_write_text(target, "old")

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persistence.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left") as info:
        atomic_write_text(target, "new")
    assert type(info.value) is OSError  # not a settings error: nothing was misconfigured
    # the one line names the file being written, not the temporary one (or none)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert str(target) in str(info.value)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]

