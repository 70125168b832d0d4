import itertools
import time

import pytest

from cdc_lab.core.wait import WaitTimeout, wait_until

pytestmark = pytest.mark.unit


def test_returns_the_first_truthy_value():
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "done", timeout=5, interval=0.001) == "done"


def test_exceptions_count_as_not_yet():
    calls = iter([ConnectionError("down"), ConnectionError("down"), 42])

    def probe():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(probe, timeout=5, interval=0.001) == 42


def test_times_out_with_the_last_thing_seen():
    started = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"waiting for the thing; last seen: ConnectionError\('refused'\)"):
        wait_until(
            lambda: (_ for _ in ()).throw(ConnectionError("refused")), timeout=0.2, interval=0.05, what="the thing"
        )
    assert time.monotonic() - started < 2
