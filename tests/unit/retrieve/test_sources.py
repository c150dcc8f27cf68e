"""Every source of the registry is one module behind one interface, and ``GALLERY_<SOURCE>_URL``
overrides any search source's endpoint."""

from __future__ import annotations

import pytest

from image_pipeline.retrieve.sources import ENGINES, SEARCH_ENGINES, source_module
from image_pipeline.settings import Settings


@pytest.mark.parametrize("engine", ENGINES)
def test_each_source_is_one_module_behind_the_interface(engine):
    module = source_module(engine)
    assert module.__name__ == f"image_pipeline.retrieve.{engine}"
    assert all(callable(getattr(module, name)) for name in ("check", "with_window", "retrieve"))
    assert isinstance(module.ENDPOINT, str) and bool(module.ENDPOINT) == (engine in SEARCH_ENGINES)


def test_every_search_source_endpoint_is_overridden_by_its_variable(monkeypatch):
    for engine in SEARCH_ENGINES:
        monkeypatch.setenv(f"GALLERY_{engine.upper()}_URL", f"http://127.0.0.1:1/{engine}")
    monkeypatch.setenv("GALLERY_STORE_URL", "file:///tmp/store")  # a setting of its own, not an endpoint
    endpoints = Settings.from_env().downloads.endpoints()
    assert {engine: endpoints.get(engine) for engine in SEARCH_ENGINES} == {
        engine: f"http://127.0.0.1:1/{engine}" for engine in SEARCH_ENGINES}
    assert "store" not in endpoints
    monkeypatch.undo()
    assert Settings().downloads.endpoints() == {}
