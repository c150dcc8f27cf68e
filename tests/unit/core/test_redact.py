"""What may be recorded of a URL: its credential-carrying query values and password replaced."""

from __future__ import annotations

from image_pipeline.core import redact


def test_secret_query_values_are_replaced_and_the_rest_kept():
    url = ("https://bucket.s3.amazonaws.com/a/b.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026"
           "&X-Amz-Signature=abc123&X-Amz-Expires=60")
    out = redact.redact_url(url)
    assert "abc123" not in out and "AKIA" not in out and "X-Amz-Expires=60" in out and out.startswith(
        "https://bucket.s3.amazonaws.com/a/b.zip?")
    assert "k3y" not in redact.redact_url("https://api.flickr.com/services/rest/?api_key=k3y&text=cats")
    assert redact.redact_url("https://user:pw@host/x?y=1") == "https://user:***@host/x?y=1"
    assert redact.redact_url("file:///data/archives/x.zip") == "file:///data/archives/x.zip"
    assert redact.redact_url("http://[::1?token=x") == "***"  # unparsable: nothing of it is kept


def test_a_secret_goes_to_every_registered_masker(monkeypatch):
    seen = []
    monkeypatch.setattr(redact, "_maskers", [])
    redact.register_masker(seen.append)
    assert redact.secret("t0ken") == "t0ken" and redact.secret("") == "" and seen == ["t0ken"]
