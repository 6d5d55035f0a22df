from pathlib import Path

import pytest

from storage.lock import AlreadyRunning, WorkerLock


def test_a_second_worker_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    first = WorkerLock(tmp_path)
    first.acquire()
    with pytest.raises(AlreadyRunning) as err:
        WorkerLock(tmp_path).acquire()
    assert err.value.holder.isdigit()
    first.release()
    with WorkerLock(tmp_path):  # released: the next worker may start
        pass
