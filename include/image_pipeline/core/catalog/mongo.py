"""The MongoDB catalog (pymongo): collection ``images`` here; ``deliveries``, ``metrics``, ``recipes`` and
``request_ledger`` in the same database (:mod:`.mongo_keyed`)."""

from __future__ import annotations

from typing import Any

from image_pipeline.core.catalog.base import Catalog, check_field, normalised_output, new_image_doc, to_iso
from image_pipeline.core.catalog.failures import attempt_entry, counted_attempt, quarantine_entry
from image_pipeline.core.catalog.listing import TERMS, ImageFilters, check_page, decode_cursor, page_of
from image_pipeline.core.catalog.mongo_keyed import (
    MongoDailyMetrics, MongoDeliveryLedger, MongoRequestLedger, MongoSavedRecipes, without_id,
)

# The gallery's listing: each filter's field followed by the sort key, so a filtered page is a range
# of one index, in order. create_index is idempotent (an existing identical index is kept).
_NEWEST = [("retrieved_at", -1), ("_id", -1)]
LISTING_INDEXES = [
    _NEWEST,
    [("status", 1), *_NEWEST],
    [("format", 1), *_NEWEST],
    [("keywords", 1), *_NEWEST],
    [("features.labels.name", 1), *_NEWEST],
    [("sources.source", 1), *_NEWEST],
    [("features.faces", 1), *_NEWEST],
    [("duplicate_of", 1)],
    [("tags", 1), *_NEWEST],
    [("trashed", 1), *_NEWEST],
]


class MongoCatalog(MongoDeliveryLedger, MongoDailyMetrics, MongoSavedRecipes, MongoRequestLedger, Catalog):
    """MongoDB through pymongo: collection ``images`` in one database, beside the documents by key
    (delivery ledger, metrics, saved recipes, request ledger) of :mod:`.mongo_keyed`."""

    def __init__(self, database: Any, owns_client: Any = None):
        self.db = database
        self.images = database["images"]
        self._client = owns_client
        self.images.create_index("keywords")
        self.images.create_index("run_ids")
        self.images.create_index("status")
        self.images.create_index("retrieved_at")
        for keys in LISTING_INDEXES:
            self.images.create_index(keys)
        self._create_work_indexes()

    def _create_work_indexes(self) -> None:
        """Processing's and analytics' indexes: features to (re)compute, the phashes in retrieval
        order (covered: the index holds every field read), a day's quarantines and outputs."""
        self.images.create_index([("features.version", 1), ("status", 1)])
        self.images.create_index([("retrieved_at", 1), ("_id", 1), ("features.phash", 1)],
                                 partialFilterExpression={"features.phash": {"$exists": True}})
        self.images.create_index("quarantine.at")
        self.images.create_index("outputs.$**")  # a wildcard index: every recipe's processed_at and version
        # The Problems view: the few images with failed outputs or attempts (the quarantined: "status").
        self.images.create_index("failures", sparse=True)
        self.images.create_index("attempts.count", sparse=True)

    def record_image(self, sha256: str, **fields: Any) -> bool:
        from pymongo.errors import DuplicateKeyError

        base = new_image_doc(sha256, **fields)
        try:
            self.images.insert_one({"_id": sha256, **base})
            return True
        except DuplicateKeyError:
            pass
        source = base["sources"][0]
        news = [{"keywords": {"$ne": fields["keyword"]}}, {"run_ids": {"$ne": fields["run_id"]}},
                {"sources": {"$ne": source}}]
        # Only a new keyword, run or source updates the record: a retry of the same run changes nothing.
        self.images.update_one(  # a trashed image stays as it is
            {"_id": sha256, "$or": news, "trashed": None},
            {
                "$addToSet": {"keywords": fields["keyword"], "run_ids": fields["run_id"], "sources": source},
                "$max": {"last_seen_at": base["last_seen_at"]},
            },
        )
        return False

    def record_processing(self, sha256, outputs, features=None, duplicate_of=None, failures=None) -> None:
        change: dict[str, Any] = {f"outputs.{check_field(r)}": normalised_output(o) for r, o in outputs.items()}
        change.update({f"failures.{check_field(r)}": {**f, "at": to_iso(f["at"])}
                       for r, f in (failures or {}).items()})
        if features is not None:
            change.update(features=features, duplicate_of=duplicate_of)
        if change:
            # A success drops its recipe's failure; the image got through the engine: its attempts end.
            unset = {"attempts": "", **{f"failures.{r}": "" for r in outputs}}
            result = self.images.update_one({"_id": sha256}, {"$set": change, "$unset": unset})
            if result.matched_count == 0:
                raise KeyError(f"no catalog record for {sha256}")
        if outputs:  # a quarantined image stays quarantined
            self.images.update_one({"_id": sha256, "status": {"$ne": "quarantined"}}, {"$set": {"status": "processed"}})
        elif self.images.count_documents({"_id": sha256}) == 0:
            raise KeyError(f"no catalog record for {sha256}")

    def record_quarantine(self, sha256, reason, stage, key, at, base=None, *, kind="image", release=None,
                          run_id=None, attempts=None, dag_id=None) -> None:
        from pymongo.errors import DuplicateKeyError

        quarantine = quarantine_entry(reason, stage, key, at, kind, release, run_id, attempts, dag_id)
        change = {"status": "quarantined", "quarantine": quarantine}
        if base is not None:
            try:
                self.images.insert_one({"_id": sha256, **base, **change})
                return
            except DuplicateKeyError:
                pass
        # The first quarantine stands: a retry changes nothing.
        result = self.images.update_one({"_id": sha256, "quarantine": None},
                                        {"$set": change, "$unset": {"attempts": ""}})
        if result.matched_count == 0 and self.images.count_documents({"_id": sha256}) == 0:
            raise KeyError(f"no catalog record for {sha256}")

    def record_attempt(self, sha256, reason, at, *, run_id=None, release=None, dag_id=None) -> int:
        from pymongo import ReturnDocument

        attempt = attempt_entry(reason, at, release, dag_id)
        # Read, count, write only if unchanged since read (a concurrent attempt makes this one read again).
        while True:
            doc = self.images.find_one({"_id": sha256}, {"attempts": 1})
            if doc is None:
                raise KeyError(f"no catalog record for {sha256}")
            current = doc.get("attempts")
            counted = counted_attempt(current, attempt, run_id)
            done = self.images.find_one_and_update({"_id": sha256, "attempts": current},
                                                   {"$set": {"attempts": counted}},
                                                   return_document=ReturnDocument.AFTER)
            if done is not None:
                return done["attempts"]["count"]

    def problems(self, limit=None):
        query = {"trashed": None, "$or": [{"status": "quarantined"}, {"attempts.count": {"$gte": 1}},
                                          {"failures": {"$type": "object", "$ne": {}}}]}
        docs = self.images.find(query).sort("_id", 1)
        return [without_id(d) for d in (docs.limit(limit) if limit is not None else docs)]

    def get(self, sha256: str) -> dict[str, Any] | None:
        return without_id(self.images.find_one({"_id": sha256}))

    def find(self, *, keyword=None, run_id=None, status=None, has_output=None, between=None, label=None):
        query: dict[str, Any] = {}
        if label is not None:
            query["features.labels.name"] = label
        if keyword is not None:
            query["keywords"] = keyword
        if run_id is not None:
            query["run_ids"] = run_id
        if status is not None:
            query["status"] = status
        if has_output is not None:
            query[f"outputs.{check_field(has_output)}"] = {"$exists": True}
        if between is not None:
            path, since, until = between
            query[check_field(path)] = {"$gte": since, "$lt": until}
        return [without_id(d) for d in self.images.find(query).sort("_id", 1)]

    def iter_images(self, batch_size=1000):
        for doc in self.images.find({}).sort("_id", 1).batch_size(batch_size):
            yield without_id(doc)

    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        recipe, field = check_field(recipe), check_field(field)
        # A failed output stands for its recipe (the newer attempt: a success drops it).
        query = {"status": {"$ne": "quarantined"}, "trashed": None, "$or": [
            {f"failures.{recipe}": {"$exists": False}, f"outputs.{recipe}.{field}": {"$ne": version}},
            {f"failures.{recipe}": {"$exists": True}, f"failures.{recipe}.{field}": {"$ne": version}}]}
        return [d["_id"] for d in self.images.find(query, {"_id": 1}).sort("_id", 1)]

    def pending_features(self, version: int) -> list[str]:
        # Ranges and null of the index's first field, rather than a $ne no index can serve.
        query = {"status": {"$ne": "quarantined"}, "trashed": None, "$or": [{"features.version": {"$lt": version}},
                                                                          {"features.version": {"$gt": version}},
                                                                          {"features.version": None}]}
        return [d["_id"] for d in self.images.find(query, {"_id": 1}).sort("_id", 1)]

    def phashes(self) -> list[tuple[str, str]]:
        docs = self.images.find({"features.phash": {"$exists": True}}, {"features.phash": 1, "retrieved_at": 1})
        return [(d["_id"], d["features"]["phash"]) for d in docs.sort([("retrieved_at", 1), ("_id", 1)])]

    def embedding_shas(self) -> list[str]:
        docs = self.images.find({"features.embedding.f16": {"$type": "string"}}, {"_id": 1}).sort("_id", 1)
        return [d["_id"] for d in docs]

    def embeddings(self, sha256s=None) -> list[tuple[str, str]]:
        query: dict[str, Any] = {"features.embedding.f16": {"$type": "string"}}
        if sha256s is not None:
            query["_id"] = {"$in": sorted(set(sha256s))}
        docs = self.images.find(query, {"features.embedding.f16": 1}).sort("_id", 1)
        return [(d["_id"], d["features"]["embedding"]["f16"]) for d in docs]

    def touched(self, since, until, recipes=(), batch_size=1000):
        window = {"$gte": since, "$lt": until}
        fields = ["retrieved_at", "quarantine.at"] + [f"outputs.{check_field(r)}.processed_at" for r in recipes]
        kept = {"$or": [{"trashed": None}, {"trashed.at": {"$gte": since}}]}  # not trashed before the day
        query = {"$and": [{"$or": [{f: window} for f in fields]}, kept]}
        cursor = self.images.find(query).sort("_id", 1).batch_size(batch_size)
        for doc in cursor:
            yield without_id(doc)

    def _edit(self, sha256, fields, entry):
        from pymongo import ReturnDocument

        doc = self.images.find_one_and_update({"_id": sha256}, {"$set": fields, "$push": {"history": entry}},
                                              return_document=ReturnDocument.AFTER)
        return without_id(doc)

    def delete_image(self, sha256: str) -> bool:
        return self.images.delete_one({"_id": sha256}).deleted_count > 0

    # --- the gallery's listing ----------------------------------------------------------------------

    def _query(self, filters: ImageFilters) -> dict[str, Any]:
        query: dict[str, Any] = {}
        fields = {"keyword": "keywords", "label": "features.labels.name", "source": "sources.source",
                  "format": "format", "status": "status"}
        for name, field in fields.items():
            if getattr(filters, name) is not None:
                query[field] = getattr(filters, name)
        window = {op: v for op, v in (("$gte", filters.since), ("$lt", filters.until)) if v is not None}
        if window:
            query["retrieved_at"] = window
        if filters.has_faces is not None:
            query["features.faces"] = {"$gt": 0} if filters.has_faces else {"$not": {"$gt": 0}}
        if filters.duplicates:
            heads = [h for h in self.images.distinct("duplicate_of", {"duplicate_of": {"$ne": None}}) if h]
            query["$or"] = [{"duplicate_of": {"$ne": None}}, {"_id": {"$in": heads}}]
        if filters.tag:
            query["tags"] = {"$all": list(filters.tag)}
        query["trashed"] = {"$ne": None} if filters.trashed else None  # None: null or missing
        if filters.group is not None:
            group = {"$or": [{"_id": filters.group}, {"duplicate_of": filters.group}]}
            query = {"$and": [query, group]}
        return query

    def list_images(self, filters=None, sort="newest", limit=60, cursor=None):
        filters = ImageFilters.of(filters)
        check_page(sort, limit)
        after = decode_cursor(cursor)
        query = self._query(filters)
        direction = -1 if sort == "newest" else 1
        if after is not None:
            op = "$lt" if sort == "newest" else "$gt"
            keyset = {"$or": [{"retrieved_at": {op: after[0]}}, {"retrieved_at": after[0], "_id": {op: after[1]}}]}
            query = {"$and": [query, keyset]} if query else keyset
        found = self.images.find(query).sort([("retrieved_at", direction), ("_id", direction)]).limit(limit + 1)
        return page_of([without_id(d) for d in found], limit)

    def count_images(self, filters=None) -> int:
        return self.images.count_documents(self._query(ImageFilters.of(filters)))

    def facets(self, top: int = 100) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for kind, (array, member) in TERMS.items():
            path = f"{array}.{member}" if member else array
            # One count per image and value: the values of an image made distinct before grouping.
            pipeline = [{"$match": {"trashed": None}}, {"$project": {"v": f"${path}"}}, {"$unwind": "$v"},
                        {"$group": {"_id": {"i": "$_id", "v": "$v"}}},
                        {"$group": {"_id": "$_id.v", "count": {"$sum": 1}}},
                        {"$sort": {"count": -1, "_id": 1}}, {"$limit": top}]
            out[kind] = [{"name": r["_id"], "count": r["count"]} for r in self.images.aggregate(pipeline)
                         if r["_id"] is not None]
        for name, field in (("formats", "format"), ("statuses", "status")):
            pipeline = [{"$match": {field: {"$ne": None}, "trashed": None}},
                        {"$group": {"_id": f"${field}", "count": {"$sum": 1}}},
                        {"$sort": {"count": -1, "_id": 1}}, {"$limit": top}]
            out[name] = [{"name": r["_id"], "count": r["count"]} for r in self.images.aggregate(pipeline)]
        return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
