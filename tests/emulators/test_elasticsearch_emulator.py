"""The Elasticsearch emulator's own semantics, driven by the real client where it can be:
queries, sorting, `_source`, aggregations, bulk per-item results, index resolution,
headers, error bodies, authentication and injected faults."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import (
    ApiError,
    AuthenticationException,
    BadRequestError,
    ConnectionError,
    Elasticsearch,
    NotFoundError,
    helpers,
)

from tests.emulators.elasticsearch import ElasticsearchEmulator

DOCS = [
    {
        "@timestamp": "2026-01-05T06:00:01.000Z",
        "svc": "cart",
        "status": 500,
        "level": "error",
        "msg": "Redis timeout",
    },
    {
        "@timestamp": "2026-01-05T06:00:02.500Z",
        "svc": "cart",
        "status": 200,
        "level": "info",
        "msg": "ok",
    },
    {
        "@timestamp": "2026-01-05T06:00:31.000Z",
        "svc": "checkout",
        "status": 503,
        "level": "warn",
        "msg": "upstream reset",
    },
    {
        "@timestamp": "2026-01-05T06:01:45.000Z",
        "svc": "payment",
        "level": "error",
        "msg": "card declined",
        "tags": ["a", "b"],
    },
    {
        "@timestamp": "2026-01-05T06:01:50.000Z",
        "svc": "cart",
        "status": 502,
        "level": "error",
        "msg": "bad gateway",
    },
]
MAPPING = {
    "properties": {
        "@timestamp": {"type": "date"},
        "svc": {"type": "keyword"},
        "status": {"type": "long"},
        "level": {"type": "keyword"},
        "msg": {"type": "text"},
        "tags": {"type": "keyword"},
    }
}


@pytest.fixture
def es() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(es: ElasticsearchEmulator) -> Iterator[Elasticsearch]:
    with Elasticsearch(es.url) as c:
        c.indices.create(index="logs-a", mappings=MAPPING)
        helpers.bulk(
            c, [{"_index": "logs-a", "_id": str(i), "_source": d} for i, d in enumerate(DOCS)]
        )
        yield c


def ids(client: Elasticsearch, query: dict[str, Any], **kw: Any) -> list[str]:
    hits = client.search(index="logs-a", query=query, sort=["_doc"], **kw)["hits"]["hits"]
    return [h["_id"] for h in hits]


def raw(
    es: ElasticsearchEmulator,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(es.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = response.read()
            return response.status, dict(response.headers), json.loads(payload) if payload else None
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        status, response_headers = exc.code, dict(exc.headers)
        exc.close()
        return status, response_headers, json.loads(payload) if payload else None


# --- queries ---


def test_bool_filter_should_and_minimum_should_match(client: Elasticsearch) -> None:
    should = [{"range": {"status": {"gte": 500}}}, {"term": {"level": "error"}}]
    assert ids(client, {"bool": {"should": should}}) == ["0", "2", "3", "4"]
    assert ids(client, {"bool": {"should": should, "minimum_should_match": 2}}) == ["0", "4"]
    in_window = {
        "range": {"@timestamp": {"gte": "2026-01-05T06:00:00Z", "lt": "2026-01-05T06:01:00Z"}}
    }
    assert ids(
        client, {"bool": {"filter": [in_window], "should": should, "minimum_should_match": 1}}
    ) == ["0", "2"]
    # With a filter and no minimum, should clauses are optional.
    assert ids(client, {"bool": {"filter": [in_window], "should": should}}) == ["0", "1", "2"]
    assert ids(
        client,
        {"bool": {"must": {"term": {"svc": "cart"}}, "must_not": [{"term": {"status": 200}}]}},
    ) == ["0", "4"]


def test_term_terms_exists_and_match_all(client: Elasticsearch) -> None:
    assert ids(client, {"terms": {"svc": ["checkout", "payment"]}}) == ["2", "3"]
    assert ids(client, {"term": {"svc": {"value": "CART", "case_insensitive": True}}}) == [
        "0",
        "1",
        "4",
    ]
    assert ids(client, {"term": {"status": "500"}}) == ["0"]  # numbers match numerically
    assert ids(client, {"term": {"msg": "timeout"}}) == ["0"]  # text matches analysed tokens
    assert ids(client, {"term": {"msg": "Redis timeout"}}) == []
    assert ids(client, {"term": {"tags": "b"}}) == ["3"]  # any value of an array
    assert ids(client, {"bool": {"must_not": {"exists": {"field": "status"}}}}) == ["3"]
    assert ids(client, {"match_all": {}}) == ["0", "1", "2", "3", "4"]
    assert ids(client, {"term": {"no_such_field": "x"}}) == []


def test_date_ranges_take_formats_and_are_millisecond_exact(client: Elasticsearch) -> None:
    millis = {
        "range": {
            "@timestamp": {"gte": 1767592802500, "lt": 1767592831000, "format": "epoch_millis"}
        }
    }
    assert ids(client, millis) == ["1"]
    seconds = {
        "range": {
            "@timestamp": {"gt": "1767592802.5", "lte": "1767592831", "format": "epoch_second"}
        }
    }
    assert ids(client, seconds) == ["2"]
    with pytest.raises(BadRequestError) as caught:
        ids(client, {"range": {"@timestamp": {"gte": "yesterday"}}})
    assert caught.value.body["error"]["root_cause"][0]["type"] == "parse_exception"


def test_malformed_queries_are_parsing_exceptions(client: Elasticsearch) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bogus": {}}, "unknown query [bogus]"),
        ({"bool": {"must": [], "oops": 1}}, "[bool] query does not support [oops]"),
        (
            {"term": {"a": 1, "b": 2}},
            "[term] query doesn't support multiple fields, found [a] and [b]",
        ),
        ({"range": {"status": {"gte": 1, "above": 2}}}, "[range] query does not support [above]"),
    ]
    for query, reason in cases:
        with pytest.raises(BadRequestError) as caught:
            client.search(index="logs-a", query=query)
        body = caught.value.body
        assert body["status"] == 400
        assert body["error"]["type"] == "parsing_exception"
        assert body["error"]["root_cause"][0]["reason"] == reason


# --- hits: sort, size, _source, totals ---


def test_sort_size_and_sort_values(client: Elasticsearch) -> None:
    result = client.search(index="logs-a", sort=[{"@timestamp": {"order": "desc"}}], size=2)
    hits = result["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["4", "3"]
    assert hits[0]["sort"] == [1767592910000]
    assert hits[0]["_score"] is None and result["hits"]["max_score"] is None
    assert result["hits"]["total"] == {"value": 5, "relation": "eq"}
    by_status = client.search(index="logs-a", sort=[{"status": "asc"}], size=5)["hits"]["hits"]
    assert [h["_id"] for h in by_status] == ["1", "0", "4", "2", "3"]  # missing values last
    assert by_status[-1]["sort"] == [2**63 - 1]


def test_sorting_on_text_or_unmapped_fields_fails_the_shard(client: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.search(index="logs-a", sort=["msg"])
    assert caught.value.body["error"]["type"] == "search_phase_execution_exception"
    assert "Fielddata is disabled on [msg]" in caught.value.body["error"]["root_cause"][0]["reason"]
    with pytest.raises(BadRequestError, match="No mapping found for \\[nope\\]"):
        client.search(index="logs-a", sort=["nope"])
    ok = client.search(index="logs-a", sort=[{"nope": {"order": "asc", "unmapped_type": "long"}}])
    assert len(ok["hits"]["hits"]) == 5


def test_source_filtering_and_total_hits_tracking(
    es: ElasticsearchEmulator, client: Elasticsearch
) -> None:
    client.index(
        index="logs-b",
        id="n",
        document={"service": {"name": "x", "version": "1"}, "log.level": "error"},
    )
    hit = client.search(index="logs-b", source={"includes": ["service.name", "log.level"]})["hits"][
        "hits"
    ][0]
    assert hit["_source"] == {"service": {"name": "x"}, "log.level": "error"}
    body = json.dumps({"_source": ["service.*"]}).encode()
    hit = raw(es, "POST", "/logs-b/_search", body, {"Content-Type": "application/json"})[2]
    assert hit["hits"]["hits"][0]["_source"] == {"service": {"name": "x", "version": "1"}}
    hit = client.search(index="logs-b", source={"excludes": ["service.version"]})["hits"]["hits"][0]
    assert hit["_source"] == {"service": {"name": "x"}, "log.level": "error"}
    assert "_source" not in client.search(index="logs-b", source=False)["hits"]["hits"][0]
    assert "total" not in client.search(index="logs-a", track_total_hits=False)["hits"]
    assert client.search(index="logs-a", track_total_hits=3)["hits"]["total"] == {
        "value": 3,
        "relation": "gte",
    }
    assert client.search(index="logs-a", rest_total_hits_as_int=True)["hits"]["total"] == 5


def test_the_result_window_is_bounded(client: Elasticsearch) -> None:
    with pytest.raises(BadRequestError, match="Result window is too large"):
        client.search(index="logs-a", size=10_001)


# --- aggregations ---


def test_terms_aggregation_counts_orders_and_bounds(client: Elasticsearch) -> None:
    aggs = client.search(
        index="logs-a",
        size=0,
        aggs={
            "svc": {"terms": {"field": "svc", "size": 2}},
            "by_key": {"terms": {"field": "svc", "order": {"_key": "desc"}}},
            "status": {"terms": {"field": "status", "missing": -1}},
        },
    )["aggregations"]
    assert aggs["svc"]["buckets"] == [
        {"key": "cart", "doc_count": 3},
        {"key": "checkout", "doc_count": 1},
    ]
    assert aggs["svc"]["sum_other_doc_count"] == 1
    assert [b["key"] for b in aggs["by_key"]["buckets"]] == ["payment", "checkout", "cart"]
    assert {b["key"]: b["doc_count"] for b in aggs["status"]["buckets"]} == {
        -1: 1,
        200: 1,
        500: 1,
        502: 1,
        503: 1,
    }


def test_nested_terms_and_date_histogram_with_empty_buckets(client: Elasticsearch) -> None:
    aggs = client.search(
        index="logs-a",
        size=0,
        aggs={
            "svc": {
                "terms": {"field": "svc"},
                "aggs": {
                    "per_30s": {"date_histogram": {"field": "@timestamp", "fixed_interval": "30s"}}
                },
            }
        },
    )["aggregations"]
    cart = aggs["svc"]["buckets"][0]
    assert cart["key"] == "cart"
    assert [(b["key_as_string"], b["doc_count"]) for b in cart["per_30s"]["buckets"]] == [
        ("2026-01-05T06:00:00.000Z", 2),
        ("2026-01-05T06:00:30.000Z", 0),
        ("2026-01-05T06:01:00.000Z", 0),
        ("2026-01-05T06:01:30.000Z", 1),
    ]
    minutes = client.search(
        index="logs-a",
        size=0,
        aggs={
            "m": {
                "date_histogram": {
                    "field": "@timestamp",
                    "calendar_interval": "minute",
                    "min_doc_count": 1,
                }
            }
        },
    )["aggregations"]
    assert [b["doc_count"] for b in minutes["m"]["buckets"]] == [3, 2]


def test_aggregation_errors(client: Elasticsearch) -> None:
    with pytest.raises(BadRequestError) as caught:
        client.search(index="logs-a", aggs={"m": {"terms": {"field": "msg"}}})
    assert caught.value.body["error"]["failed_shards"][0]["index"] == "logs-a"
    assert "Fielddata is disabled on [msg] in [logs-a]" in str(caught.value)
    with pytest.raises(BadRequestError, match="Unknown aggregation type \\[median\\]"):
        client.search(index="logs-a", aggs={"m": {"median": {"field": "status"}}})
    with pytest.raises(BadRequestError, match="must be non-null"):
        client.search(index="logs-a", aggs={"h": {"date_histogram": {"field": "@timestamp"}}})


# --- bulk ---


def test_bulk_reports_each_item_and_the_errors_flag(client: Elasticsearch) -> None:
    result = client.bulk(
        operations=[
            {"index": {"_index": "logs-a", "_id": "new"}},
            {"svc": "cart", "status": 500},
            {"create": {"_index": "logs-a", "_id": "0"}},
            {"svc": "cart"},
            {"index": {"_index": "logs-a"}},
            {"status": "not a number"},
            {"index": {"_index": "Bad-Name"}},
            {"svc": "x"},
            {"delete": {"_index": "logs-a", "_id": "1"}},
        ]
    )
    assert result["errors"] is True
    items = [next(iter(i.items())) for i in result["items"]]
    assert [(action, item["status"]) for action, item in items] == [
        ("index", 201),
        ("create", 409),
        ("index", 400),
        ("index", 400),
        ("delete", 200),
    ]
    assert items[1][1]["error"]["type"] == "version_conflict_engine_exception"
    assert items[2][1]["error"]["type"] == "document_parsing_exception"
    assert items[3][1]["error"]["type"] == "invalid_index_name_exception"
    assert client.count(index="logs-a")["count"] == 5  # one added, one deleted


def test_malformed_bulk_requests_fail_whole(
    es: ElasticsearchEmulator, client: Elasticsearch
) -> None:
    with pytest.raises(
        BadRequestError, match="expected one of \\[create, delete, index, update\\]"
    ):
        client.bulk(operations=[{"upsert": {"_index": "logs-a"}}, {"a": 1}])
    status, _, body = raw(
        es,
        "POST",
        "/_bulk",
        b'{"index":{"_index":"logs-a"}}\n{"a":1}',
        {"Content-Type": "application/x-ndjson"},
    )
    assert status == 400
    assert body["error"]["reason"] == "The bulk request must be terminated by a newline [\\n]"


def test_bulk_creates_indices_with_dynamic_mappings(client: Elasticsearch) -> None:
    helpers.bulk(
        client,
        [
            {
                "_index": "logs-new",
                "_source": {
                    "@timestamp": "2026-01-05T06:00:00Z",
                    "service": {"name": "cart"},
                    "n": 3,
                    "ok": True,
                },
            }
        ],
    )
    properties = client.indices.get_mapping(index="logs-new")["logs-new"]["mappings"]["properties"]
    assert properties["@timestamp"] == {"type": "date"}
    assert properties["service"]["properties"]["name"] == {
        "type": "text",
        "fields": {"keyword": {"type": "keyword", "ignore_above": 256}},
    }
    assert properties["n"] == {"type": "long"} and properties["ok"] == {"type": "boolean"}


# --- indices and patterns ---


def test_index_patterns_and_missing_indices(client: Elasticsearch) -> None:
    client.indices.create(index="logs-b")
    client.indices.create(index="other")
    client.index(index="logs-b", document={"svc": "x"})
    client.index(index="other", document={"svc": "y"})
    assert client.search(index="logs-*")["hits"]["total"]["value"] == 6
    assert client.search(index="logs-*,-logs-a")["hits"]["total"]["value"] == 1
    assert client.search(index="logs-b,other")["_shards"]["total"] == 2
    with pytest.raises(NotFoundError) as caught:
        client.search(index="logs-c")
    assert caught.value.body["error"]["type"] == "index_not_found_exception"
    assert caught.value.body["error"]["index"] == "logs-c"
    assert (
        client.search(index="logs-c,logs-b", ignore_unavailable=True)["hits"]["total"]["value"] == 1
    )
    empty = client.search(index="nothing-*")
    assert empty["_shards"]["total"] == 0 and empty["hits"]["hits"] == []
    with pytest.raises(NotFoundError):
        client.search(index="nothing-*", allow_no_indices=False)
    with pytest.raises(BadRequestError, match="resource_already_exists_exception"):
        client.indices.create(index="logs-b")
    assert client.indices.exists(index="logs-b") and not client.indices.exists(index="logs-z")


# --- the wire: headers, routing, auth, faults ---


def test_every_answer_says_it_is_elasticsearch(es: ElasticsearchEmulator) -> None:
    accept = {"Accept": "application/vnd.elasticsearch+json; compatible-with=8"}
    status, headers, body = raw(es, "GET", "/", headers=accept)
    assert status == 200 and body["version"]["number"] == "8.19.0"
    assert headers["X-elastic-product"] == "Elasticsearch"
    assert headers["Content-Type"] == "application/vnd.elasticsearch+json;compatible-with=8"
    status, headers, body = raw(es, "GET", "/missing/_search")
    assert (status, headers["X-elastic-product"]) == (404, "Elasticsearch")
    assert headers["Content-Type"] == "application/json"
    assert raw(es, "DELETE", "/")[2] == {
        "error": "Incorrect HTTP method for uri [/] and method [DELETE], allowed: [GET, HEAD]",
        "status": 405,
    }
    assert raw(es, "GET", "/_nope/x/y")[0] == 400
    status, _, body = raw(es, "GET", "/_search?frobnicate=1")
    assert (
        body["error"]["reason"]
        == "request [/_search] contains unrecognized parameter: [frobnicate]"
    )
    status, _, body = raw(
        es, "GET", "/", headers={"Accept": "application/vnd.elasticsearch+json; compatible-with=6"}
    )
    assert (status, body["error"]["type"]) == (400, "media_type_header_exception")


def test_authentication_when_required() -> None:
    with ElasticsearchEmulator(api_keys=frozenset({"k3y"}), users={"elastic": "changeme"}) as es:
        status, headers, body = raw(es, "GET", "/")
        assert status == 401
        assert body["error"]["type"] == "security_exception"
        assert body["error"]["reason"] == "missing authentication credentials for REST request [/]"
        assert 'Basic realm="security"' in headers["WWW-Authenticate"]
        for auth in ({"api_key": "k3y"}, {"basic_auth": ("elastic", "changeme")}):
            with Elasticsearch(es.url, **auth) as good:
                assert good.info()["tagline"] == "You Know, for Search"
        with (
            Elasticsearch(es.url, basic_auth=("elastic", "wrong")) as bad,
            pytest.raises(AuthenticationException),
        ):
            bad.info()


def test_injected_faults_hit_the_next_requests_then_stop(es: ElasticsearchEmulator) -> None:
    with Elasticsearch(es.url, max_retries=0) as client:
        es.inject("429", 2, endpoint="_search")
        assert client.info()["tagline"]  # not a search: untouched
        for _ in range(2):
            with pytest.raises(ApiError) as caught:
                client.search(index="_all")
            assert caught.value.meta.status == 429
            assert caught.value.meta.headers["X-elastic-product"] == "Elasticsearch"
            assert caught.value.body["error"]["type"] == "es_rejected_execution_exception"
        assert client.search(index="_all")["_shards"]["total"] == 0
        es.inject("503")
        with pytest.raises(ApiError) as caught:
            client.info()
        assert caught.value.meta.status == 503
        es.inject("disconnect")
        with pytest.raises(ConnectionError):
            client.info()
        assert es.pending_faults() == 0


def test_faults_can_be_injected_over_http(es: ElasticsearchEmulator) -> None:
    body = json.dumps({"kind": "503", "count": 1}).encode()
    assert raw(es, "POST", "/_emulator/faults", body)[2] == {"pending": 1}
    assert raw(es, "GET", "/")[0] == 503
    assert raw(es, "GET", "/")[0] == 200


def test_stop_cuts_kept_alive_connections_like_a_dead_process(es: ElasticsearchEmulator) -> None:
    with Elasticsearch(es.url, max_retries=0) as client:
        assert client.info()["tagline"]
        es.stop()
        with pytest.raises(ConnectionError):
            client.info()


def test_the_command_line_entry_point_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.elasticsearch", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip().rsplit(" ", 1)[-1]
        with Elasticsearch(url) as client:
            assert client.info()["version"]["number"] == "8.19.0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
