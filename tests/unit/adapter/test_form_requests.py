"""Each DAG's form read into its own request (airflow_adapter/requests.py): what a person or a REST
caller sends, as the tasks then take it. The DAG runs themselves are tests/dags'."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from image_pipeline.airflow_adapter.requests import (
    AnalyticsRequest, DeliverRequest, ImageRequest, InboxRequest, ProcessRequest, RetrieveRequest,
)
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.core.selection import Selection

SHA = ["b" * 64, "a" * 64]
# image_request's form as the trigger form sends it: the optional fields None.
IMAGE_REQUEST = {"keywords": ["red fox"], "count": 5, "recipe": "half_gray", "email": "you@example.com",
                 "engine": "bing", "filters": None, "site_url": None, "urls": None, "batch_size": None}


def test_a_search_is_the_fields_given_and_empty_values_are_not_given():
    form = {"engine": "urls", "keywords": [], "count": 20, "filters": {}, "site_url": "",
            "urls": ["https://example.com/a.jpg"]}
    assert RetrieveRequest.from_params(form).given() == {"engine": "urls", "count": 20,
                                                         "urls": ["https://example.com/a.jpg"]}
    asked = RetrieveRequest.from_params({"engine": "bing", "keywords": ["cat"], "count": 3, "filters": {"size": "large"}})
    assert asked.given() == {"engine": "bing", "keywords": ["cat"], "count": 3, "filters": {"size": "large"}}


def test_an_image_request_is_a_search_then_its_runs_images_processed_and_delivered():
    asked = ImageRequest.from_params(IMAGE_REQUEST)
    # The search is gallery_retrieve's: the recipe, email and batch size are not the library's retrieval fields.
    assert asked.search.given() == {"engine": "bing", "keywords": ["red fox"], "count": 5}
    assert asked.processing("manual__1") == ProcessRequest(recipes=("half_gray",), selection=Selection(run_id="manual__1"))
    delivery = asked.delivery("manual__1", "request:image_request/manual__1")
    assert delivery.to_dict() == {"selection": {"recipe": "half_gray", "run_id": "manual__1"},
                                  "recipient": "you@example.com", "occasion": "request:image_request/manual__1"}
    assert ImageRequest.from_params({**IMAGE_REQUEST, "batch_size": 4.0}).processing("r").batch_size == 4


def test_a_process_request_closes_an_open_range_and_takes_chosen_images():
    empty = {"recipes": ["thumb"], "keyword": None, "label": None, "since": None, "until": None, "images": None,
             "force": False, "retry": False, "batch_size": None}
    assert ProcessRequest.from_params(empty) == ProcessRequest(recipes=("thumb",))
    asked = ProcessRequest.from_params({**empty, "since": "2026-01-02", "images": SHA, "force": True, "retry": True,
                                        "batch_size": 50})
    tomorrow = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()
    assert asked.selection == Selection(since="2026-01-02", until=tomorrow, images=tuple(SHA))
    assert (asked.force, asked.retry, asked.batch_size) == (True, True, 50)
    with pytest.raises(InvalidRequest, match="since"):
        ProcessRequest.from_params({**empty, "since": "2026-02-30"})


def test_a_delivery_form_keeps_its_selection_until_checked():
    empty = {"recipe": "half_gray", "recipient": None, "keyword": None, "label": None, "run_id": None,
             "since": None, "until": None}
    assert DeliverRequest.from_params(empty).chosen() == {}
    asked = DeliverRequest.from_params({**empty, "keyword": "fox", "recipient": "", "until": "2026-03-01"})
    assert asked.recipient is None and asked.chosen() == {"keyword": "fox", "since": "1970-01-01", "until": "2026-03-01"}
    with pytest.raises(InvalidRequest, match="since: 2026-03-01 must be before until"):
        DeliverRequest.from_params({**empty, "since": "2026-03-01", "until": "2026-01-01"}).chosen()


def test_the_inbox_and_analytics_forms():
    assert InboxRequest.from_params({"keyword": "scans"}).keyword == "scans"
    assert AnalyticsRequest.from_params({"day": None}).day is None
    assert AnalyticsRequest.from_params({"day": "2026-01-31"}).day == "2026-01-31"
    with pytest.raises(InvalidRequest, match="day"):
        AnalyticsRequest.from_params({"day": "2026-13-01"})
