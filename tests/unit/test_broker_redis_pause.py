"""The pause between empty fetches of medic's Redis transport: a tenth of the quiet, 1 to 50 ms."""

import pytest

from workers.broker_redis import FETCH_PAUSE_MAX_S, FETCH_PAUSE_MIN_S, fetch_pause_s


@pytest.mark.parametrize("idle_s, pause_s", [
    (0.0, FETCH_PAUSE_MIN_S),  # messages keep coming: fetch again almost at once
    (0.005, FETCH_PAUSE_MIN_S),
    (0.2, 0.02),  # a tenth of the quiet: a message after it waits at most that
    (3.0, FETCH_PAUSE_MAX_S),
    (float("inf"), FETCH_PAUSE_MAX_S),  # never a message: an idle worker fetches 20 times a second
])
def test_the_pause_is_a_tenth_of_the_quiet_within_its_bounds(idle_s, pause_s):
    assert fetch_pause_s(idle_s) == pytest.approx(pause_s)
