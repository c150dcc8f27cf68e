"""The SQLite catalog: the embedded default, one SQLite file, a JSON document per image.

The gallery's listing is index-backed, with nothing to keep in step by hand: the fields it filters
and sorts on live in two side tables with their indexes, ``image_fields`` (one narrow row per image:
retrieved_at, status, format, faces, dup_of) and ``image_terms`` (one row per keyword, label name and
source of an image), both kept by triggers on every insert, update and delete of ``images``, whoever
writes the row. (Indexes on generated columns were tried first: SQLite does not read them as
covering, so counting a filter parsed every document.) A file from before them is migrated when
opened (``PRAGMA user_version``): tables, indexes and triggers created, every row indexed.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from image_pipeline.core.catalog.base import Catalog, _check_field, _normalised_output, new_image_doc, to_iso
from image_pipeline.core.catalog.listing import ImageFilters, check_page, decode_cursor, page_of

SCHEMA_VERSION = 2  # 2: trashed_at, and tags among the terms
# The fields the gallery filters and sorts on, one narrow row per image (counting a filter scans
# these, never the documents), and one row per (kind, value) of the multi-valued ones with the
# image's retrieval time (a keyword's page is a range of that key, already in order).
FIELDS_TABLE = ("CREATE TABLE IF NOT EXISTS image_fields (sha256 TEXT PRIMARY KEY, retrieved_at TEXT, "
                "status TEXT, format TEXT, faces INTEGER, dup_of TEXT, trashed_at TEXT)")
TERMS_TABLE = ("CREATE TABLE IF NOT EXISTS image_terms (kind TEXT NOT NULL, value TEXT NOT NULL, "
               "retrieved_at TEXT, sha256 TEXT NOT NULL, PRIMARY KEY (kind, value, retrieved_at, sha256)) "
               "WITHOUT ROWID")
INDEXES = {
    "ix_fields_retrieved": "image_fields (retrieved_at, sha256)",
    "ix_fields_status": "image_fields (status, retrieved_at, sha256)",
    "ix_fields_format": "image_fields (format, retrieved_at, sha256)",
    "ix_fields_dup_of": "image_fields (dup_of)",
    "ix_fields_trashed": "image_fields (trashed_at, retrieved_at, sha256)",  # the default listing: not trashed
    "ix_terms_image": "image_terms (sha256, kind, value)",
}
_FIELDS_OF = ("INSERT INTO image_fields (sha256, retrieved_at, status, format, faces, dup_of, trashed_at) VALUES "
              "(new.sha256, json_extract(new.doc, '$.retrieved_at'), json_extract(new.doc, '$.status'), "
              "json_extract(new.doc, '$.format'), json_extract(new.doc, '$.features.faces'), "
              "json_extract(new.doc, '$.duplicate_of'), json_extract(new.doc, '$.trashed.at'))")
_TERMS_OF = """INSERT INTO image_terms (kind, value, retrieved_at, sha256)
    SELECT 'keywords', value, json_extract(new.doc, '$.retrieved_at'), new.sha256
      FROM json_each(new.doc, '$.keywords') WHERE type = 'text'
    UNION SELECT 'labels', CASE WHEN type = 'object' THEN json_extract(value, '$.name') END AS name,
                 json_extract(new.doc, '$.retrieved_at'), new.sha256
      FROM json_each(new.doc, '$.features.labels') WHERE name IS NOT NULL
    UNION SELECT 'sources', CASE WHEN type = 'object' THEN json_extract(value, '$.source') END AS name,
                 json_extract(new.doc, '$.retrieved_at'), new.sha256
      FROM json_each(new.doc, '$.sources') WHERE name IS NOT NULL
    UNION SELECT 'tags', value, json_extract(new.doc, '$.retrieved_at'), new.sha256
      FROM json_each(new.doc, '$.tags') WHERE type = 'text'"""
# A field of an unexpected type (a label that is not an object...) is left out, never fails the write.
# Delete, then insert: an INSERT OR REPLACE of ``images`` fires no delete trigger, and the outer
# statement's conflict policy overrides a trigger's own (OR REPLACE / OR IGNORE would not hold);
# UNION makes an image's terms distinct.
_REINDEX = (f"DELETE FROM image_terms WHERE sha256 = new.sha256; DELETE FROM image_fields WHERE sha256 = new.sha256; "
            f"{_FIELDS_OF}; {_TERMS_OF};")
TRIGGERS = {
    "tr_images_insert": f"AFTER INSERT ON images BEGIN {_REINDEX} END",
    "tr_images_update": f"AFTER UPDATE OF doc ON images BEGIN {_REINDEX} END",
    "tr_images_delete": "AFTER DELETE ON images BEGIN DELETE FROM image_terms WHERE sha256 = old.sha256; "
                        "DELETE FROM image_fields WHERE sha256 = old.sha256; END",
}
# Images of a near-duplicate group: those naming a group's first image, and the ones named.
_IN_GROUP = ("f.sha256 IN (SELECT sha256 FROM image_fields WHERE dup_of IS NOT NULL "
             "UNION SELECT dup_of FROM image_fields WHERE dup_of IS NOT NULL)")


# A day's analytics leave out images trashed before the day (the text test first: no parse when never trashed).
_NOT_TRASHED_BEFORE = ("(instr(doc, '\"trashed\"') = 0 OR coalesce(json_extract(doc, '$.trashed.at') >= ?, 1))")


class SqliteCatalog(Catalog):
    """The embedded default: one SQLite file, a JSON document per image."""

    def __init__(self, path: str | Path, timeout: float = 60.0):
        """``timeout``: seconds a statement waits for another writer's lock before it fails with
        ``sqlite3.OperationalError: database is locked`` (the task fails, Airflow retries it)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so that read-modify-write
        # sequences from parallel tasks serialise instead of losing updates.
        self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS metrics (day TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS recipes (name TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        if self.conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        """The listing's columns, indexes, terms and triggers, idempotently, in one transaction (parallel
        tasks opening an old file: the first migrates, the others find it done)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                self.conn.execute(FIELDS_TABLE)
                self.conn.execute(TERMS_TABLE)
                columns = {r[1] for r in self.conn.execute("PRAGMA table_info(image_fields)")}
                if "trashed_at" not in columns:  # a version 1 file
                    self.conn.execute("ALTER TABLE image_fields ADD COLUMN trashed_at TEXT")
                for name, on in INDEXES.items():
                    self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")
                for name, body in TRIGGERS.items():
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")  # an older version's body
                    self.conn.execute(f"CREATE TRIGGER {name} {body}")
                self.conn.execute("UPDATE images SET doc = doc")  # the update trigger fills the terms
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

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
            if doc.get("trashed"):
                return  # found again by a crawl, it stays in the trash as it was
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
            "AND json_extract(doc, '$.trashed') IS NULL "
            "AND coalesce(json_extract(doc, ?), -1) != ? ORDER BY sha256", (path, value),
        )
        return [r[0] for r in rows]

    def phashes(self) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT sha256, json_extract(doc, '$.features.phash') AS phash FROM images "
            "WHERE phash IS NOT NULL ORDER BY json_extract(doc, '$.retrieved_at'), sha256")
        return [(r[0], r[1]) for r in rows]

    def embedding_shas(self) -> list[str]:
        rows = self.conn.execute("SELECT sha256 FROM images WHERE json_extract(doc, '$.features.embedding.f16') "
                                 "IS NOT NULL ORDER BY sha256")
        return [r[0] for r in rows]

    def embeddings(self, sha256s=None) -> list[tuple[str, str]]:
        query = ("SELECT sha256, json_extract(doc, '$.features.embedding.f16') AS f16 FROM images "
                 "WHERE f16 IS NOT NULL")
        if sha256s is None:
            return [(r[0], r[1]) for r in self.conn.execute(query + " ORDER BY sha256")]
        wanted, found = sorted(set(sha256s)), []
        for i in range(0, len(wanted), 500):  # under SQLite's limit of bound parameters
            chunk = wanted[i:i + 500]
            found += self.conn.execute(query + f" AND sha256 IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        return sorted((r[0], r[1]) for r in found)

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
            f"AND {_NOT_TRASHED_BEFORE} ORDER BY sha256", [*fields, since, until, since])
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
            "SELECT CAST(doc AS BLOB) FROM images WHERE (" + " OR ".join("instr(doc, ?) > 0" for _ in days)
            + f") AND {_NOT_TRASHED_BEFORE}", [*(f'"{day}T' for day in days), since])
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

    def _edit(self, sha256, fields, entry):
        def edit(doc: dict[str, Any]) -> None:
            doc.update(fields)
            doc.setdefault("history", []).append(entry)

        try:
            self._update(sha256, edit)
        except KeyError:
            return None
        return self.get(sha256)

    def delete_image(self, sha256: str) -> bool:
        return self.conn.execute("DELETE FROM images WHERE sha256 = ?", (sha256,)).rowcount > 0

    def save_recipe(self, name, spec, saved_by, saved_at):
        self.conn.execute("BEGIN IMMEDIATE")  # read the version and write the next one as one step
        try:
            row = self.conn.execute("SELECT doc FROM recipes WHERE name = ?", (name,)).fetchone()
            version = json.loads(row[0])["version"] + 1 if row else 1
            doc = {"name": name, "version": version, "spec": {k: v for k, v in spec.items() if k != "version"},
                   "saved_by": saved_by, "saved_at": to_iso(saved_at)}
            self.conn.execute("INSERT INTO recipes (name, doc) VALUES (?, ?) "
                              "ON CONFLICT(name) DO UPDATE SET doc = excluded.doc", (name, json.dumps(doc)))
            self.conn.execute("COMMIT")
            return doc
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def saved_recipes(self):
        return [json.loads(r[0]) for r in self.conn.execute("SELECT doc FROM recipes ORDER BY name")]

    # --- the gallery's listing ----------------------------------------------------------------------

    def _listing(self, filters: ImageFilters) -> tuple[str, list[Any], list[str], str, str]:
        """FROM and WHERE for ``filters``, and the (retrieved_at, sha256) columns to order and page by.

        A keyword, label or source filter drives the query from ``image_terms`` (a range of its key,
        already in order); otherwise ``image_fields`` through the index the planner picks."""
        where, args = [], []
        terms = filters.terms()
        if terms:
            kind, value = terms[0]
            sql = "image_terms AS t0 JOIN image_fields AS f ON f.sha256 = t0.sha256"
            where.append("t0.kind = ? AND t0.value = ?")
            args += [kind, value]
            time_col, sha_col = "t0.retrieved_at", "t0.sha256"
        else:
            sql, time_col, sha_col = "image_fields AS f", "f.retrieved_at", "f.sha256"
        for kind, value in terms[1:]:
            where.append("EXISTS (SELECT 1 FROM image_terms AS t WHERE t.sha256 = f.sha256 AND t.kind = ? "
                         "AND t.value = ?)")
            args += [kind, value]
        for column in ("status", "format"):
            if getattr(filters, column) is not None:
                where.append(f"f.{column} = ?")
                args.append(getattr(filters, column))
        if filters.since is not None:
            where.append(f"{time_col} >= ?")
            args.append(filters.since)
        if filters.until is not None:
            where.append(f"{time_col} < ?")
            args.append(filters.until)
        if filters.has_faces is not None:
            where.append("f.faces > 0" if filters.has_faces else "coalesce(f.faces, 0) = 0")
        if filters.duplicates:
            where.append(_IN_GROUP)
        if filters.group is not None:
            where.append("(f.sha256 = ? OR f.dup_of = ?)")
            args += [filters.group, filters.group]
        where.append("f.trashed_at IS NOT NULL" if filters.trashed else "f.trashed_at IS NULL")
        return sql, args, where, time_col, sha_col

    def list_images(self, filters=None, sort="newest", limit=60, cursor=None):
        filters = ImageFilters.of(filters)
        check_page(sort, limit)
        after = decode_cursor(cursor)
        sql, args, where, time_col, sha_col = self._listing(filters)
        order = "DESC" if sort == "newest" else "ASC"
        if after is not None:
            where.append(f"({time_col}, {sha_col}) {'<' if sort == 'newest' else '>'} (?, ?)")
            args += list(after)
        query = (f"SELECT i.doc FROM {sql} JOIN images AS i ON i.sha256 = f.sha256"
                 + (" WHERE " + " AND ".join(where) if where else "")
                 + f" ORDER BY {time_col} {order}, {sha_col} {order} LIMIT ?")
        docs = [json.loads(r[0]) for r in self.conn.execute(query, [*args, limit + 1])]
        return page_of(docs, limit)

    def count_images(self, filters=None) -> int:
        sql, args, where, _, _ = self._listing(ImageFilters.of(filters))
        query = f"SELECT count(*) FROM {sql}" + (" WHERE " + " AND ".join(where) if where else "")
        return self.conn.execute(query, args).fetchone()[0]

    def facets(self, top: int = 100) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        # The trash is left out (a join only when something is in it: the counts stay index-only).
        trash = self.conn.execute("SELECT 1 FROM image_fields WHERE trashed_at IS NOT NULL LIMIT 1").fetchone()
        kept = (" AND sha256 NOT IN (SELECT sha256 FROM image_fields WHERE trashed_at IS NOT NULL)" if trash else "")
        for kind in ("keywords", "labels", "sources", "tags"):
            # (kind, value, retrieved_at, sha256) is the key: one row per image and value.
            rows = self.conn.execute(f"SELECT value, count(*) AS n FROM image_terms WHERE kind = ?{kept} "
                                     "GROUP BY value ORDER BY n DESC, value LIMIT ?", (kind, top))
            out[kind] = [{"name": r[0], "count": r[1]} for r in rows]
        for name, column in (("formats", "format"), ("statuses", "status")):
            rows = self.conn.execute(f"SELECT {column}, count(*) AS n FROM image_fields WHERE {column} IS NOT NULL "
                                     f"AND trashed_at IS NULL GROUP BY {column} ORDER BY n DESC, {column} LIMIT ?",
                                     (top,))
            out[name] = [{"name": r[0], "count": r[1]} for r in rows]
        return out

    def close(self) -> None:
        self.conn.close()
