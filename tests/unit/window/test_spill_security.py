"""The label join's spill directory and files are private to the worker's user, and nothing read back from them
is unpickled (issue 19): a directory others could write to is refused, files are 0600 whatever the umask, and
a segment rewritten by someone else yields an error, never runs code."""

from __future__ import annotations

import os
import pickle
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from streamdrift.errors import ConfigError, JoinStoreError
from streamdrift.settings import LabelSettings, Settings
from streamdrift.window.joinstore import JoinStore, MemoryBudget
from streamdrift.window.spilldir import private_directory
from streamdrift.worker.joinrestore import new_store

SRC = Path(__file__).resolve().parents[3] / "src" / "streamdrift"
OTHER_UID = 65534  # nobody


@pytest.fixture
def no_umask() -> Iterator[None]:
    """umask 0: modes are what the code asks for, not what a umask happens to take away."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _ids(n: int) -> list[str]:
    return [f"id{i}" for i in range(n)]


def test_spill_dir_is_created_0700(tmp_path: Path, no_umask: None) -> None:
    directory = private_directory(tmp_path / "a" / "spill")
    assert directory == tmp_path / "a" / "spill" and _mode(directory) == 0o700
    assert private_directory(directory) == directory  # an existing private one is fine


def test_new_store_makes_the_configured_spill_dir_private(tmp_path: Path, no_umask: None) -> None:
    settings = Settings(group_id="g", labels=LabelSettings(spill_dir=str(tmp_path / "spill")))
    store = new_store(settings, 0, MemoryBudget(1000))
    assert _mode(tmp_path / "spill") == 0o700
    store.close()


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720])
def test_spill_dir_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "spill"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(ConfigError, match=r"labels.spill_dir: .*writable by its group or by others"):
        private_directory(directory)
    settings = Settings(group_id="g", labels=LabelSettings(spill_dir=str(directory)))
    with pytest.raises(ConfigError):
        new_store(settings, 0, MemoryBudget(1000))


def test_spill_dir_readable_by_others_is_accepted(tmp_path: Path) -> None:
    directory = tmp_path / "spill"
    directory.mkdir()
    directory.chmod(0o755)
    assert private_directory(directory) == directory and _mode(directory) == 0o755  # left as it is


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another user needs root")
def test_spill_dir_of_another_user_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "spill"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, -1)
    with pytest.raises(ConfigError, match=rf"owned by uid {OTHER_UID}, not by this user"):
        private_directory(directory)


def test_spill_dir_symlink_file_and_open_parent_are_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(ConfigError, match="symbolic link"):
        private_directory(tmp_path / "link")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        private_directory(tmp_path / "file")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone may rename what is in it
    with pytest.raises(ConfigError, match="without the sticky bit"):
        private_directory(shared / "spill")
    shared.chmod(0o1777)  # like /tmp: only the owner may
    assert _mode(private_directory(shared / "spill2")) == 0o700


def test_spill_files_are_0600_whatever_the_umask(tmp_path: Path, no_umask: None) -> None:
    directory = private_directory(tmp_path / "spill")
    store = JoinStore(directory / "p0.sqlite", max_memory_items=100, ttl_ms=10**9)
    store.add_predictions(["m"] * 1000, _ids(1000), np.arange(1000), ["cat"] * 1000)  # segments
    store.add_labels(["m"] * 1000, [f"x{i}" for i in range(1000)], ["dog"] * 1000, now_ms=0)  # waiting: SQLite
    assert store.spilled_items > 1800
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".seg", ".sqlite"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert _mode(directory / "p0.sqlite.segments") == 0o700
    store.close()


def _spilled_text_store(tmp_path: Path) -> JoinStore:
    """A store whose first segment holds text predictions (their values in the segment's value section)."""
    store = JoinStore(tmp_path / "j.sqlite", max_memory_items=10, ttl_ms=10**9)
    store.add_predictions(["m"] * 100, _ids(100), np.arange(100), [f"class-{i % 3}" for i in range(100)])
    assert store._segments is not None and store._segments.segments
    return store


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def test_a_segment_rewritten_with_a_pickle_runs_no_code(tmp_path: Path) -> None:
    store = _spilled_text_store(tmp_path)
    seg = store._segments.segments[0]  # type: ignore[union-attr]
    marker = tmp_path / "code-ran"
    payload = pickle.dumps([_RunsCode(marker)] * seg.n)
    at = seg.size - seg.other
    data = bytearray(seg.path.read_bytes())
    assert len(payload) <= seg.other  # the pickle in place of the values, the file's size unchanged
    data[at:] = payload + b"\0" * (seg.other - len(payload))
    seg.path.write_bytes(bytes(data))
    with pytest.raises(JoinStoreError, match="corrupt join value section"):
        store.add_labels(["m"], ["id0"], ["class-0"], now_ms=0)
    assert not marker.exists()
    store.close()


def test_a_segment_of_another_size_is_refused(tmp_path: Path) -> None:
    store = _spilled_text_store(tmp_path)
    seg = store._segments.segments[0]  # type: ignore[union-attr]
    with seg.path.open("ab") as f:
        f.write(b"more")
    with pytest.raises(JoinStoreError, match=r"has \d+ bytes, \d+ were written"):
        store.add_labels(["m"], ["id0"], ["class-0"], now_ms=0)
    store.close()


def test_text_predictions_come_back_from_the_spill(tmp_path: Path) -> None:
    store = _spilled_text_store(tmp_path)
    r = store.add_labels(["m"] * 3, ["id0", "id50", "id99"], ["class-0", "class-1", "class-2"], now_ms=0)
    assert r.rows.y_pred.tolist() == ["class-0", "class-2", "class-0"]
    assert r.rows.timestamps_ms.tolist() == [0, 50, 99]
    store.close()


def test_no_pickle_marshal_or_shelve_in_the_package() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+(c?pickle|marshal|shelve|dill|joblib)\b", re.MULTILINE)
    found = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert found == []
