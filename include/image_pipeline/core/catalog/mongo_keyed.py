"""The MongoDB catalog's documents beside the images, one collection each, a document by ``_id``: the
delivery ledger (``deliveries``, by id), the daily metrics (``metrics``, by day), the saved recipes
(``recipes``, by name) and the request ledger (``request_ledger``, by user). Each class is one role of
:mod:`.roles` over the catalog's database ``db``; :class:`~.mongo.MongoCatalog` names them among its
bases. pymongo is imported where it is used, as in :mod:`.mongo`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from image_pipeline.core.catalog.base import request_window, to_iso
from image_pipeline.core.catalog.roles import DailyMetrics, DeliveryLedger, RequestLedger, SavedRecipes
from image_pipeline.core.errors import Unavailable


def without_id(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A document as the catalog gives it: without MongoDB's ``_id`` (the key is a field of its own)."""
    if doc is not None:
        doc.pop("_id", None)
    return doc


class MongoDeliveryLedger(DeliveryLedger):
    """Collection ``deliveries``: an entry by id."""

    db: Any  # the catalog's pymongo database

    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        return without_id(self.db["deliveries"].find_one({"_id": delivery_id}))

    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        self.db["deliveries"].replace_one({"_id": delivery_id}, {**doc, "id": delivery_id}, upsert=True)

    def deliveries(self) -> list[dict[str, Any]]:
        return [without_id(d) for d in self.db["deliveries"].find().sort("_id", 1)]


class MongoDailyMetrics(DailyMetrics):
    """Collection ``metrics``: a document by day."""

    db: Any

    def get_metrics(self, day: str) -> dict[str, Any] | None:
        return without_id(self.db["metrics"].find_one({"_id": day}))

    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        self.db["metrics"].replace_one({"_id": day}, {**doc, "day": day}, upsert=True)

    def metrics(self) -> list[dict[str, Any]]:
        return [without_id(d) for d in self.db["metrics"].find().sort("_id", 1)]


class MongoSavedRecipes(SavedRecipes):
    """Collection ``recipes``: a recipe by name."""

    db: Any

    def save_recipe(self, name: str, spec: dict[str, Any], saved_by: str, saved_at: str) -> dict[str, Any]:
        from pymongo import ReturnDocument

        # $inc on an upsert starts at 1: the version is bumped atomically, whoever saves at the same time.
        doc = self.db["recipes"].find_one_and_update(
            {"_id": name},
            {"$inc": {"version": 1}, "$set": {"name": name, "spec": {k: v for k, v in spec.items() if k != "version"},
                                              "saved_by": saved_by, "saved_at": to_iso(saved_at)}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return without_id(doc)

    def saved_recipes(self) -> list[dict[str, Any]]:
        return [without_id(d) for d in self.db["recipes"].find().sort("_id", 1)]


class MongoRequestLedger(RequestLedger):
    """Collection ``request_ledger``. Counting a user's entries and adding one must be one step, and
    MongoDB changes one document atomically (a transaction needs a replica set): each user's entries
    are one document, ``{"_id": user, "runs": [{"run_id", "at", "admitted"}], "v"}``, replaced by
    compare-and-set on ``v``: of two checks racing, the loser reads the winner's entry and counts
    again. Entries a window and ``REQUEST_LEDGER_DAYS`` older than the newest are dropped, which
    bounds the document: a retry or a clear within that long finds its decision."""

    db: Any
    REQUEST_LEDGER_DAYS = 7
    REQUEST_LEDGER_ATTEMPTS = 50

    def admit_request(self, run_id: str, user: str, at: datetime | str, limit: int, window: int) -> dict[str, Any]:
        from pymongo.errors import DuplicateKeyError

        ledger = self.db["request_ledger"]
        at, since, until = request_window(at, window)
        for _attempt in range(self.REQUEST_LEDGER_ATTEMPTS):
            doc = ledger.find_one({"_id": user})
            runs = doc["runs"] if doc else []
            entry = next((r for r in runs if r["run_id"] == run_id), None)
            if entry is not None:  # recorded before: its own time and decision
                break
            entry = {"run_id": run_id, "at": at, "admitted": sum(since < r["at"] < until for r in runs) < limit}
            newest = datetime.fromisoformat(max([at, *(r["at"] for r in runs)]))
            kept_since = to_iso(newest - timedelta(seconds=window, days=self.REQUEST_LEDGER_DAYS))
            runs = [r for r in runs if r["at"] >= kept_since] + [entry]
            if doc is None:
                try:
                    ledger.insert_one({"_id": user, "runs": runs, "v": 1})
                    break
                except DuplicateKeyError:  # another check recorded this user's first entry: count again
                    continue
            replaced = ledger.update_one({"_id": user, "v": doc["v"]}, {"$set": {"runs": runs, "v": doc["v"] + 1}})
            if replaced.matched_count:
                break
        else:
            raise Unavailable(f"the request ledger of {user!r} changed under {self.REQUEST_LEDGER_ATTEMPTS} checks "
                              "in a row: try again")
        _, since, until = request_window(entry["at"], window)
        recent = sorted(r["at"] for r in runs if since < r["at"] < until)
        return {"run_id": run_id, "user": user, "at": entry["at"], "admitted": entry["admitted"], "recent": recent}
