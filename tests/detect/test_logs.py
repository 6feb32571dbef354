"""Log template mining and classification."""

from __future__ import annotations

from healer.detect.logclass import LogClass, classify
from healer.detect.logpatterns import PatternMiner, headline, mask

HIKARI = (
    "HikariPool-1 - Connection is not available, request timed out after {ms}ms "
    "(total=3, active=3, idle=0, waiting={w})"
)


def test_variable_parts_share_one_template() -> None:
    miner = PatternMiner()
    ids = {miner.add(HIKARI.format(ms=30000 + i, w=i)).id for i in range(20)}
    assert len(ids) == 1
    assert "<*>" in miner.templates[0].text
    assert miner.templates[0].count == 20


def test_different_errors_get_different_templates() -> None:
    miner = PatternMiner()
    a = miner.add(HIKARI.format(ms=30000, w=3))
    b = miner.add(
        "upstream connect error or disconnect/reset before headers. "
        "reset reason: connection failure"
    )
    c = miner.add(
        'java.lang.NullPointerException: Cannot invoke "String.length()" because "sku" is null'
        "\n\tat com.shop.Cart.add(Cart.java:42)"
    )
    assert len({a.id, b.id, c.id}) == 3


def test_masks_ids_addresses_and_numbers() -> None:
    line = mask("req 3f2a9c1e-1b2c-4d5e-8f90-123456789abc from 10.2.3.4:8080 took 35ms")
    assert line == "req <*> from <*> took <*>"


def test_python_traceback_is_named_by_its_last_line() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in f\n'
        "KeyError: 'currency_code'"
    )
    assert headline(trace) == "KeyError: 'currency_code'"


def test_classification_uses_the_libraries_words() -> None:
    assert classify(HIKARI) is LogClass.POOL_TIMEOUT
    assert (
        classify("sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached")
        is LogClass.POOL_TIMEOUT
    )
    assert classify("FATAL: sorry, too many clients already") is LogClass.DB_CONNECTIONS
    assert classify("rpc error: code = Unavailable desc = connection refused") is LogClass.UPSTREAM
    assert classify("context deadline exceeded") is LogClass.TIMEOUT
    assert classify("java.lang.NullPointerException: boom") is LogClass.EXCEPTION
    assert classify("client disconnected") is LogClass.OTHER
