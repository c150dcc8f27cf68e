"""The API's contract beside its models: one error shape (validation errors too), a 405 that names every
method of its path, names that cannot be one matching no route, dates as RFC 3339 says them."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_every_error_is_a_sentence_in_detail(client, as_user):
    invalid = client.get("/api/images", params={"limit": 0}, headers=as_user("viewer"))
    assert invalid.status_code == 422
    assert invalid.json() == {"detail": "query.limit: Input should be greater than or equal to 1",
                              "errors": [{"loc": ["query", "limit"], "msg": "Input should be greater than or equal to 1",
                                          "type": "greater_than_equal"}]}
    for answer in (client.get("/api/images/" + "f" * 64, headers=as_user("viewer")),  # 404
                   client.get("/api/images", params={"cursor": "!!"}, headers=as_user("viewer")),  # 400
                   client.post("/api/recipes/check", content=b"\xffjunk", headers={**as_user("viewer"),
                                                                                  "Content-Type": "application/json"}),
                   client.get("/api/images"),  # 401
                   client.delete("/api/images/" + "f" * 64, headers=as_user("viewer"))):  # 405
        assert set(answer.json()) == {"detail"} and isinstance(answer.json()["detail"], str), answer.text
        assert answer.status_code in (400, 401, 404, 405)


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_a_405_names_every_method_of_the_path(client, as_user):
    """GET and PATCH of /api/images/{sha256} live in two routers; Starlette's own 405 named the first only."""
    answer = client.delete("/api/images/" + "a" * 64, headers=as_user("viewer"))
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, PATCH"
    bulk = client.get("/api/images/bulk", headers=as_user("viewer"))  # not an image: the bulk route, POST only
    assert bulk.status_code == 405 and bulk.headers["allow"] == "POST"
    for name in ("bulk", "A" * 64, "a" * 63):
        assert client.get(f"/api/images/{name}/thumb", headers=as_user("viewer")).status_code == 404


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_dates_are_rfc_3339_and_the_calendars_edges_select_what_they_mean(client, as_user, gallery_files):
    everything = len(gallery_files[1])

    def count(**params):
        answer = client.get("/api/images", params=params, headers=as_user("viewer"))
        assert answer.status_code == 200, answer.text
        return answer.json()["count"]

    assert count(until="9999-12-31") == everything and count(since="0001-01-01T00:00:00+05:00") == everything
    assert count(since="9999-12-31T23:00:00-05:00") == 0 and count(until="0001-01-01T01:00:00+05:00") == 0
    assert count(since="2000-01-01", until="2999-01-01T00:00:00Z") == everything
    for bad in ("0", "1700000000", "2026-W01-1", "20261101", "2026-11-01T10:00", "2026-13-01", "yesterday"):
        assert client.get("/api/images", params={"since": bad}, headers=as_user("viewer")).status_code == 422, bad
    assert client.get("/api/metrics", params={"until": "0"}, headers=as_user("viewer")).status_code == 422
