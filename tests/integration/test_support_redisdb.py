"""The claim of a test run's Redis db (tests/support/redisdb.py): two runs never share or flush one db."""

from __future__ import annotations

import pytest
import redis

from tests.support import redisdb, services

pytestmark = pytest.mark.integration


@pytest.fixture
def claims():
    taken: list[redisdb.Claim] = []
    yield taken
    for claim in taken:
        claim.release()


def test_runs_get_dbs_of_their_own_given_back_empty(claims):
    ours = services.redis_url()
    claims.extend([redisdb.claim(), redisdb.claim()])
    urls = {ours, *(claim.url for claim in claims)}
    assert len(urls) == 3 and all(claim.holds() and claim.chosen for claim in claims)
    client = redis.Redis.from_url(claims[0].url)
    client.set("left-over", "1")

    claims[0].release()
    assert client.dbsize() == 0  # flushed and given back: free for the next run


def test_a_named_db_held_by_another_run_is_refused(claims):
    claims.append(redisdb.claim())
    with pytest.raises(redisdb.RedisDbTaken, match="is in use by another test run"):
        redisdb.claim(claims[0].url)


def test_a_db_with_data_and_no_claim_is_not_taken(claims, monkeypatch):
    claims.append(redisdb.claim())
    client = redis.Redis.from_url(claims[0].url)
    client.set("another-run", "1")
    db = client.connection_pool.connection_kwargs["db"]
    # As a run that does not claim would leave it (the key goes last: the db is never free meanwhile).
    client.delete(redisdb.CLAIM_KEY)
    try:
        monkeypatch.setattr(redisdb, "CANDIDATE_DBS", (db,))
        with pytest.raises(redisdb.RedisDbTaken, match=f"{db}: has data and no claim"):
            redisdb.claim()
    finally:
        client.flushdb()


def test_flush_keeps_the_claim_and_refuses_once_it_is_lost(claims):
    claim = redisdb.claim()
    claims.append(claim)
    client = redis.Redis.from_url(claim.url)
    client.set("queue", "1")
    claim.flush()
    assert client.keys("*") == [redisdb.CLAIM_KEY.encode()] and claim.holds()
    assert 0 < client.ttl(redisdb.CLAIM_KEY) <= redisdb.CLAIM_TTL_S

    client.set(redisdb.CLAIM_KEY, "another run")
    client.set("queue", "1")
    with pytest.raises(AssertionError, match="no longer holds it"):
        claim.flush()
    assert client.get("queue") == b"1"  # not flushed
    claim.release()  # not ours any more: left as it is
    assert client.get(redisdb.CLAIM_KEY) == b"another run"
    client.flushdb()


def test_the_run_flushes_no_other_db(claims):
    claims.append(redisdb.claim())
    with pytest.raises(AssertionError, match="not flushing"):
        services.flush_redis(claims[0].url)
