"""Atomic writes: the data is on disk before the new name points at it."""

from __future__ import annotations

import os

from vaec import atomic_files
from vaec.atomic_files import atomic_write_text


def test_the_file_is_flushed_to_disk_before_it_is_renamed(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.realpath(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.realpath(src), os.path.realpath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic_files.os, "fsync", fsync)
    monkeypatch.setattr(atomic_files.os, "replace", replace)
    target = tmp_path / "report.json"
    atomic_write_text(target, '{"a": 1}')

    assert target.read_text() == '{"a": 1}'
    (rename,) = [e for e in events if e[0] == "replace"]
    renamed_at = events.index(rename)
    # the temporary file's data first, then the rename, then the folder that holds the new name
    assert ("fsync", rename[1]) in events[:renamed_at]
    assert ("fsync", str(tmp_path.resolve())) in events[renamed_at:]
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
