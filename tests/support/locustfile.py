"""The gallery under load (locust): people browsing pages of the gallery, the facets and thumbnails.

Run by tests/system/test_gallery_load.py as ``locust -f tests/support/locustfile.py --headless``;
``LOAD_TOKEN`` is an Airflow JWT (every gallery route needs a logged-in user)."""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task


class GalleryVisitor(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self):
        self.client.headers["Authorization"] = f"Bearer {os.environ['LOAD_TOKEN']}"
        self.shas: list[str] = []  # images on the pages seen
        self.thumbs: list[str] = []  # those with a thumbnail (processed): what the page shows as pictures
        self.cursor = None
        self.processed_only = random.random() < 0.5  # half the visitors filter on processed images

    @task(4)
    def browse(self):
        """The next page of the gallery (or the first), as scrolling does."""
        params = {"limit": 60, **({"cursor": self.cursor} if self.cursor else {}),
                  **({"status": "processed"} if self.processed_only else {})}
        with self.client.get("/gallery/api/images", params=params, name="/gallery/api/images",
                             catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            page = response.json()
            self.shas = [item["sha256"] for item in page["items"]] or self.shas
            self.thumbs = [item["sha256"] for item in page["items"] if item.get("thumb_url")] or self.thumbs
            self.cursor = page.get("next_cursor")

    @task(8)
    def thumbnails(self):
        for sha in random.sample(self.thumbs, min(6, len(self.thumbs))):
            self.client.get(f"/gallery/api/images/{sha}/thumb", name="/gallery/api/images/[sha]/thumb")

    @task(1)
    def facets(self):
        self.client.get("/gallery/api/facets")

    @task(1)
    def detail(self):
        if self.shas:
            self.client.get(f"/gallery/api/images/{random.choice(self.shas)}", name="/gallery/api/images/[sha]")
