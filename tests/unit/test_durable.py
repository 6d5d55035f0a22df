import errno
import os
import threading
from pathlib import Path

import pytest

from storage import durable
from storage.durable import CHUNK, write_new

SIZES = [0, 1, 4095, 4096, 4097, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 12345]


def _refuses_direct(folder: Path) -> bool:
    probe = folder / f"probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644))
    except OSError:
        return True
    probe.unlink()
    return False


@pytest.mark.parametrize("size", SIZES)
def test_a_file_written_holds_exactly_its_bytes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    write_new(tmp_path / "f", data)
    assert (tmp_path / "f").read_bytes() == data


def test_a_longer_file_in_the_way_is_replaced_whole(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x" * (CHUNK + 5000))
    write_new(tmp_path / "f", b"short")
    assert (tmp_path / "f").read_bytes() == b"short"


def test_a_memoryview_of_a_larger_message_is_written_as_its_slice(tmp_path: Path) -> None:
    message = os.urandom(2 * CHUNK)
    write_new(tmp_path / "f", memoryview(message)[100:CHUNK + 7])
    assert (tmp_path / "f").read_bytes() == message[100:CHUNK + 7]


def test_the_page_cache_is_passed_by_where_the_file_system_allows_it(tmp_path: Path) -> None:
    if _refuses_direct(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    data = os.urandom(CHUNK + 4097)
    assert durable._written_direct(tmp_path / "f", data) is True
    assert (tmp_path / "f").read_bytes() == data


@pytest.mark.parametrize("refused_at", ["open", "write"])
def test_a_file_system_that_refuses_o_direct_gets_an_ordinary_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     refused_at: str) -> None:
    """Some file systems refuse O_DIRECT when the file is opened, others at the first write."""
    real_open, real_write = os.open, os.write
    direct_fds: set[int] = set()

    def refusing_open(path: Path, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT and refused_at == "open":
            raise OSError(errno.EINVAL, "Invalid argument")
        fd = real_open(path, flags, mode)
        if flags & os.O_DIRECT:
            direct_fds.add(fd)
        return fd

    def refusing_write(fd: int, data: bytes) -> int:
        if fd in direct_fds:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    monkeypatch.setattr(durable.os, "open", refusing_open)
    monkeypatch.setattr(durable.os, "write", refusing_write)
    data = os.urandom(CHUNK + 4097)
    assert durable._written_direct(tmp_path / "f", data) is False
    write_new(tmp_path / "g", data)
    assert (tmp_path / "g").read_bytes() == data


def test_threads_writing_at_once_each_keep_their_own_bytes(tmp_path: Path) -> None:
    datas = [os.urandom(2 * CHUNK + n) for n in range(4)]
    threads = [threading.Thread(target=write_new, args=(tmp_path / f"f{n}", data)) for n, data in enumerate(datas)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [(tmp_path / f"f{n}").read_bytes() for n in range(4)] == datas
