"""The catalog: one document per distinct image, keyed by its sha256, and a delivery ledger.

One interface, two implementations that pass the same contract tests: :class:`SqliteCatalog`
(the embedded default, a JSON document per row) and :class:`MongoCatalog` (pymongo; the Airflow
adapter builds its client from the ``mongo_default`` connection). Every write is an upsert keyed by
content hash or delivery id, so a retried task never duplicates a record.

An image document::

    {"sha256", "raw_key", "format", "width", "height", "bytes",
     "status": "raw" | "processed" | "quarantined",
     "retrieved_at", "last_seen_at",            # ISO-8601 UTC strings (they sort as time)
     "keywords": [...], "run_ids": [...], "sources": [{"source", "uri"}...],
     "outputs": {recipe: {"key", "version", "fingerprint", "format", "width", "height", "bytes",
                          "quality", "seconds", "timings": {operation: seconds}, "processed_at"}},
     "features": {"version", "exif", "phash", "dominant_colors", "brightness", "contrast", "blur",
                  "faces", "labels": [{"name", "score"}], "label_source", "seconds"},  # once processed
     "duplicate_of": sha256 | None,             # near-duplicate group: the group's first image
     "quarantine": {"reason", "stage", "key", "at"} | None}

Analytics keep one metrics document per day beside the images (``put_metrics``/``get_metrics``), and
read a day's images as a stream (``touched``), never the whole catalog at once.
"""

from __future__ import annotations

import json
import re
import sqlite3
from abc import ABC, abstractmethod
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_iso(value: datetime | str) -> str:
    """Normalise a timestamp to the catalog's sortable UTC ISO form."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("catalog timestamps must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def new_image_doc(
    sha256: str, *, raw_key: str, format: str, width: int, height: int, bytes: int,
    source: str, uri: str, keyword: str, run_id: str, seen_at: str, provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new image document. ``provenance`` adds what the source knows (page URL, licence hint,
    engine filters, data interval...) to this source's entry."""
    seen_at = to_iso(seen_at)
    return {
        "sha256": sha256,
        "raw_key": raw_key,
        "format": format,
        "width": width,
        "height": height,
        "bytes": bytes,
        "status": "raw",
        "retrieved_at": seen_at,
        "last_seen_at": seen_at,
        "keywords": [keyword],
        "run_ids": [run_id],
        "sources": [{"source": source, "uri": uri, **{k: v for k, v in (provenance or {}).items() if v}}],
        "outputs": {},
        "quarantine": None,
    }


def _normalised_output(output: dict[str, Any]) -> dict[str, Any]:
    return {**output, "processed_at": to_iso(output["processed_at"])}


def _check_field(path: str) -> str:
    if not _FIELD_PATH.match(path):
        raise ValueError(f"invalid field path: {path!r}")
    return path


class Catalog(ABC):
    """What the pipeline needs to know about images and deliveries."""

    @abstractmethod
    def record_image(self, sha256: str, **fields: Any) -> bool:
        """Upsert an image seen by a retrieval; returns True when it is new to the catalog.

        ``fields`` are those of :func:`new_image_doc`. Seeing a known image again adds its keyword,
        run id and source to the sets and moves ``last_seen_at``; nothing else changes.
        """

    def record_output(self, sha256: str, recipe: str, output: dict[str, Any]) -> None:
        """Store a recipe's output for an image and mark it processed."""
        self.record_processing(sha256, {recipe: output})

    @abstractmethod
    def record_processing(self, sha256: str, outputs: dict[str, dict[str, Any]],
                          features: dict[str, Any] | None = None, duplicate_of: str | None = None) -> None:
        """Store what processing one image produced, in one write: recipe outputs (replacing those
        recipes' earlier outputs; the image is then processed) and, when given, its features and
        near-duplicate group."""

    @abstractmethod
    def record_quarantine(self, sha256: str, reason: str, stage: str, key: str, at: str,
                          base: dict[str, Any] | None = None) -> None:
        """Mark an image quarantined; ``base`` creates the document if it does not exist yet.

        The first quarantine of an image stands: recording it again changes nothing."""

    @abstractmethod
    def get(self, sha256: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def find(
        self, *, keyword: str | None = None, run_id: str | None = None, status: str | None = None,
        has_output: str | None = None, between: tuple[str, str, str] | None = None, label: str | None = None,
    ) -> list[dict[str, Any]]:
        """Images matching every given filter, by sha256.

        ``label`` keeps images whose features list that label name.

        ``between=(field, since, until)`` keeps documents whose (dotted) field is in
        ``[since, until)``, e.g. ``("outputs.half_gray.processed_at", start, end)``.
        """

    @abstractmethod
    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        """sha256 of images not quarantined whose ``recipe`` output is missing or outdated: its
        ``field`` (``version`` or ``fingerprint``) differs from ``version``."""

    @abstractmethod
    def pending_features(self, version: int) -> list[str]:
        """sha256 of images not quarantined whose features are missing or of another version."""

    @abstractmethod
    def phashes(self) -> list[tuple[str, str]]:
        """(sha256, perceptual hash) of every image with features, oldest retrieval first: the
        candidates a new image's near-duplicate group is looked up in."""

    @abstractmethod
    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        """Upsert a delivery ledger entry."""

    @abstractmethod
    def deliveries(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def touched(self, since: str, until: str, recipes: Iterable[str] = (),
                batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Images retrieved, quarantined or given a ``recipes`` output in ``[since, until)``, by
        sha256, streamed ``batch_size`` at a time: a day's analytics never holds the whole catalog."""

    def touched_json(self, since: str, until: str, recipes: Iterable[str] = (),
                     batch_size: int = 1000) -> Iterator[str | bytes]:
        """JSON text (``str`` or UTF-8 ``bytes``) of at least the documents :meth:`touched` gives, in
        any order, for readers that parse in bulk and apply the window themselves: an implementation
        may add documents it can rule out only by parsing them."""
        for doc in self.touched(since, until, recipes, batch_size):
            yield json.dumps(doc, sort_keys=True)

    @abstractmethod
    def get_metrics(self, day: str) -> dict[str, Any] | None:
        """The analytics metrics document of a day (``YYYY-MM-DD``)."""

    @abstractmethod
    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        """Upsert (replace) a day's metrics document: re-running a day leaves one document."""

    @abstractmethod
    def metrics(self) -> list[dict[str, Any]]:
        """Every day's metrics document, by day."""

    def close(self) -> None:
        pass

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SqliteCatalog(Catalog):
    """The embedded default: one SQLite file, a JSON document per image."""

    def __init__(self, path: str | Path):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so that read-modify-write
        # sequences from parallel tasks serialise instead of losing updates.
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS metrics (day TEXT PRIMARY KEY, doc TEXT NOT NULL)")

    def _update(self, sha256: str, change, base: dict[str, Any] | None = None) -> bool:
        """Apply ``change(doc)`` atomically; insert ``base`` (changed) when absent. True if inserted."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT doc FROM images WHERE sha256 = ?", (sha256,)).fetchone()
            if row is None and base is None:
                raise KeyError(f"no catalog record for {sha256}")
            doc = json.loads(row[0]) if row else dict(base)  # type: ignore[arg-type]
            change(doc)
            self.conn.execute(
                "INSERT INTO images (sha256, doc) VALUES (?, ?) "
                "ON CONFLICT(sha256) DO UPDATE SET doc = excluded.doc",
                (sha256, json.dumps(doc, sort_keys=True)),
            )
            self.conn.execute("COMMIT")
            return row is None
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def record_image(self, sha256: str, **fields: Any) -> bool:
        base = new_image_doc(sha256, **fields)

        def seen_again(doc: dict[str, Any]) -> None:
            news = False
            for name, value in (("keywords", fields["keyword"]), ("run_ids", fields["run_id"]),
                                ("sources", base["sources"][0])):
                if value not in doc[name]:
                    doc[name].append(value)
                    news = True
            if news:  # the same run seeing the same image again (a retry) changes nothing
                doc["last_seen_at"] = max(doc["last_seen_at"], base["last_seen_at"])

        return self._update(sha256, seen_again, base)

    def record_processing(self, sha256, outputs, features=None, duplicate_of=None) -> None:
        outputs = {_check_field(r): _normalised_output(o) for r, o in outputs.items()}

        def add_processing(doc: dict[str, Any]) -> None:
            doc["outputs"].update(outputs)
            if doc["outputs"] and doc["status"] != "quarantined":
                doc["status"] = "processed"
            if features is not None:
                doc["features"] = features
                doc["duplicate_of"] = duplicate_of

        self._update(sha256, add_processing)

    def record_quarantine(self, sha256, reason, stage, key, at, base=None) -> None:
        at = to_iso(at)

        def quarantine(doc: dict[str, Any]) -> None:
            if doc["quarantine"] is None:  # the first quarantine stands: a retry changes nothing
                doc["status"] = "quarantined"
                doc["quarantine"] = {"reason": reason, "stage": stage, "key": key, "at": at}

        self._update(sha256, quarantine, base)

    def get(self, sha256: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM images WHERE sha256 = ?", (sha256,)).fetchone()
        return json.loads(row[0]) if row else None

    def find(self, *, keyword=None, run_id=None, status=None, has_output=None, between=None, label=None):
        where, args = [], []
        if label is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(doc, '$.features.labels') "
                         "WHERE json_extract(value, '$.name') = ?)")
            args.append(label)
        if keyword is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(doc, '$.keywords') WHERE value = ?)")
            args.append(keyword)
        if run_id is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(doc, '$.run_ids') WHERE value = ?)")
            args.append(run_id)
        if status is not None:
            where.append("json_extract(doc, '$.status') = ?")
            args.append(status)
        if has_output is not None:
            where.append("json_extract(doc, ?) IS NOT NULL")
            args.append(f"$.outputs.{_check_field(has_output)}")
        if between is not None:
            path, since, until = between
            where.append("json_extract(doc, ?) >= ? AND json_extract(doc, ?) < ?")
            args += [f"$.{_check_field(path)}", since, f"$.{path}", until]
        sql = "SELECT doc FROM images" + (" WHERE " + " AND ".join(where) if where else "")
        return [json.loads(r[0]) for r in self.conn.execute(sql + " ORDER BY sha256", args)]

    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        return self._outdated(f"$.outputs.{_check_field(recipe)}.{_check_field(field)}", version)

    def pending_features(self, version: int) -> list[str]:
        return self._outdated("$.features.version", version)

    def _outdated(self, path: str, value: int | str) -> list[str]:
        rows = self.conn.execute(
            "SELECT sha256 FROM images WHERE json_extract(doc, '$.status') != 'quarantined' "
            "AND coalesce(json_extract(doc, ?), -1) != ? ORDER BY sha256", (path, value),
        )
        return [r[0] for r in rows]

    def phashes(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT sha256, json_extract(doc, '$.features.phash') AS phash FROM images "
            "WHERE phash IS NOT NULL ORDER BY json_extract(doc, '$.retrieved_at'), sha256")
        return [(r[0], r[1]) for r in rows]

    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO deliveries (id, doc) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
            (delivery_id, json.dumps({**doc, "id": delivery_id}, sort_keys=True)),
        )

    def deliveries(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT doc FROM deliveries ORDER BY id")]

    def touched(self, since, until, recipes=(), batch_size=1000):
        fields = ["$.retrieved_at", "$.quarantine.at"] + [f"$.outputs.{_check_field(r)}.processed_at" for r in recipes]
        # One parse of each document: json_extract with several paths returns them as one array.
        cursor = self.conn.execute(
            f"SELECT doc FROM (SELECT sha256, doc, json_extract(doc, {', '.join('?' * len(fields))}) AS times "
            "FROM images) WHERE EXISTS (SELECT 1 FROM json_each(times) WHERE value >= ? AND value < ?) "
            "ORDER BY sha256", [*fields, since, until])
        cursor.arraysize = batch_size
        while rows := cursor.fetchmany():
            for (doc,) in rows:
                yield json.loads(doc)

    def touched_json(self, since, until, recipes=(), batch_size=1000):
        start, end = datetime.fromisoformat(since).date(), datetime.fromisoformat(until).date()
        if (end - start).days > 31:  # a long window: parse every document
            yield from (json.dumps(d, sort_keys=True) for d in self.touched(since, until, recipes, batch_size))
            return
        # Timestamps are stored as UTC ISO text: a document touched in the window names one of its
        # days. Finding that text costs far less than parsing the document (the reader filters exactly).
        # UTF-8 bytes in table order: no decoding into str, no lookups through the key's index.
        days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
        cursor = self.conn.execute(
            "SELECT CAST(doc AS BLOB) FROM images WHERE " + " OR ".join("instr(doc, ?) > 0" for _ in days),
            [f'"{day}T' for day in days])
        cursor.arraysize = batch_size
        while rows := cursor.fetchmany():
            for (doc,) in rows:
                yield doc

    def get_metrics(self, day: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT doc FROM metrics WHERE day = ?", (day,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT INTO metrics (day, doc) VALUES (?, ?) ON CONFLICT(day) DO UPDATE SET doc = excluded.doc",
            (day, json.dumps({**doc, "day": day}, sort_keys=True)),
        )

    def metrics(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT doc FROM metrics ORDER BY day")]

    def close(self) -> None:
        self.conn.close()


class MongoCatalog(Catalog):
    """MongoDB through pymongo: collections ``images`` and ``deliveries`` in one database."""

    def __init__(self, database: Any, owns_client: Any = None):
        self.db = database
        self.images = database["images"]
        self.ledger = database["deliveries"]
        self.daily_metrics = database["metrics"]
        self._client = owns_client
        self.images.create_index("keywords")
        self.images.create_index("run_ids")
        self.images.create_index("status")
        self.images.create_index("retrieved_at")

    @staticmethod
    def _out(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is not None:
            doc.pop("_id", None)
        return doc

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
        self.images.update_one(
            {"_id": sha256, "$or": news},
            {
                "$addToSet": {"keywords": fields["keyword"], "run_ids": fields["run_id"], "sources": source},
                "$max": {"last_seen_at": base["last_seen_at"]},
            },
        )
        return False

    def record_processing(self, sha256, outputs, features=None, duplicate_of=None) -> None:
        change: dict[str, Any] = {f"outputs.{_check_field(r)}": _normalised_output(o) for r, o in outputs.items()}
        if features is not None:
            change.update(features=features, duplicate_of=duplicate_of)
        if change:
            result = self.images.update_one({"_id": sha256}, {"$set": change})
            if result.matched_count == 0:
                raise KeyError(f"no catalog record for {sha256}")
        if outputs:  # a quarantined image stays quarantined
            self.images.update_one({"_id": sha256, "status": {"$ne": "quarantined"}}, {"$set": {"status": "processed"}})
        elif self.images.count_documents({"_id": sha256}) == 0:
            raise KeyError(f"no catalog record for {sha256}")

    def record_quarantine(self, sha256, reason, stage, key, at, base=None) -> None:
        from pymongo.errors import DuplicateKeyError

        change = {"status": "quarantined", "quarantine": {"reason": reason, "stage": stage, "key": key, "at": to_iso(at)}}
        if base is not None:
            try:
                self.images.insert_one({"_id": sha256, **base, **change})
                return
            except DuplicateKeyError:
                pass
        # The first quarantine stands: a retry changes nothing.
        result = self.images.update_one({"_id": sha256, "quarantine": None}, {"$set": change})
        if result.matched_count == 0 and self.images.count_documents({"_id": sha256}) == 0:
            raise KeyError(f"no catalog record for {sha256}")

    def get(self, sha256: str) -> dict[str, Any] | None:
        return self._out(self.images.find_one({"_id": sha256}))

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
            query[f"outputs.{_check_field(has_output)}"] = {"$exists": True}
        if between is not None:
            path, since, until = between
            query[_check_field(path)] = {"$gte": since, "$lt": until}
        return [self._out(d) for d in self.images.find(query).sort("_id", 1)]

    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        return self._outdated(f"outputs.{_check_field(recipe)}.{_check_field(field)}", version)

    def pending_features(self, version: int) -> list[str]:
        return self._outdated("features.version", version)

    def _outdated(self, path: str, value: int | str) -> list[str]:
        query = {"status": {"$ne": "quarantined"}, path: {"$ne": value}}
        return [d["_id"] for d in self.images.find(query, {"_id": 1}).sort("_id", 1)]

    def phashes(self) -> list[tuple[str, str]]:
        docs = self.images.find({"features.phash": {"$exists": True}}, {"features.phash": 1, "retrieved_at": 1})
        return [(d["_id"], d["features"]["phash"]) for d in docs.sort([("retrieved_at", 1), ("_id", 1)])]

    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        return self._out(self.ledger.find_one({"_id": delivery_id}))

    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        self.ledger.replace_one({"_id": delivery_id}, {**doc, "id": delivery_id}, upsert=True)

    def deliveries(self) -> list[dict[str, Any]]:
        return [self._out(d) for d in self.ledger.find().sort("_id", 1)]

    def touched(self, since, until, recipes=(), batch_size=1000):
        window = {"$gte": since, "$lt": until}
        fields = ["retrieved_at", "quarantine.at"] + [f"outputs.{_check_field(r)}.processed_at" for r in recipes]
        cursor = self.images.find({"$or": [{f: window} for f in fields]}).sort("_id", 1).batch_size(batch_size)
        for doc in cursor:
            yield self._out(doc)

    def get_metrics(self, day: str) -> dict[str, Any] | None:
        return self._out(self.daily_metrics.find_one({"_id": day}))

    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        self.daily_metrics.replace_one({"_id": day}, {**doc, "day": day}, upsert=True)

    def metrics(self) -> list[dict[str, Any]]:
        return [self._out(d) for d in self.daily_metrics.find().sort("_id", 1)]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

