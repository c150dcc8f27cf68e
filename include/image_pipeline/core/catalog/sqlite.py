"""The SQLite catalog: the embedded default, one SQLite file, a JSON document per image."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from image_pipeline.core.catalog.base import Catalog, _check_field, _normalised_output, new_image_doc, to_iso


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
