"""The SQLite catalog: the embedded default, one SQLite file, a JSON document per image.

The gallery's listing is index-backed, with nothing to keep in step by hand: the fields it filters
and sorts on live in two side tables with their indexes, ``image_fields`` (one narrow row per image:
retrieved_at, status, format, faces, dup_of) and ``image_terms`` (one row per keyword, label name and
source of an image), both kept by triggers on every insert, update and delete of ``images``, whoever
writes the row. (Indexes on generated columns were tried first: SQLite does not read them as
covering, so counting a filter parsed every document.) Processing's and analytics' side tables,
``image_work`` and ``image_times``, are kept the same way. ``image_facts`` holds the fields a day's
analytics read, as text lines filed under each day the image has a timestamp in (:mod:`.facts`):
deriving them takes Python, which no trigger calls (a trigger calling a function registered on one
connection fails every other writer of the file with "no such function"). This class's write methods
file them in the write's transaction; a plain-SQL trigger files any write under ``ANY_DAY`` as *not
derived* first, so a row written by anyone else (the sqlite3 CLI, a worker of an older release during
an upgrade) is read as JSON, as it is now, until :meth:`SqliteCatalog.refresh_facts` derives its lines
(a day's reading does, first). A file of an older schema (1; 2: the trash and tags; 3: processing's
tables; 4: the facts; 5: failed outputs in planning's signature, and the problems' index) is migrated
when opened (``PRAGMA user_version``, now 6: no trigger calls a Python function), in plain SQL:
tables, columns, indexes and triggers created or replaced; every row indexed again from before 3; the
facts marked not derived from before 4, then derived.

Why one module: the side tables, their triggers and the queries that read them are one schema; split,
a trigger's columns and the query relying on them would drift apart. The documents by key beside the
images (delivery ledger, metrics, saved recipes, request ledger), which no trigger touches, are
:mod:`.sqlite_keyed`'s.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from image_pipeline.core.catalog.base import Catalog, check_field, normalised_output, new_image_doc, to_iso
from image_pipeline.core.catalog.failures import attempt_entry, counted_attempt, quarantine_entry
from image_pipeline.core.catalog.facts import ANY_DAY, PAGE_URL, facts_of
from image_pipeline.core.catalog.listing import ImageFilters, check_page, decode_cursor, page_of
from image_pipeline.core.catalog.sqlite_keyed import (
    CREATE_KEYED_TABLES, SqliteDailyMetrics, SqliteDeliveryLedger, SqliteRequestLedger, SqliteSavedRecipes,
)

SCHEMA_VERSION = 6  # 2: trashed_at, and tags among the terms; 3: processing's and analytics' (_create_work_indexes);
# 4: analytics' facts (_create_facts); 5: failed outputs in the signature, image_work.problem; 6: the facts'
# triggers plain SQL (their lines filed by the write methods)
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
# Processing's and analytics' side tables (schema version 3), kept by triggers of their own like the
# listing's: ``image_work``, one row per image with what planning reads (status, the outputs' recipe,
# version and fingerprint as one signature text, the features' version, the phash, the trash time), and
# ``image_times``, one row per timestamp a day's reading looks for (retrieved, quarantined, each
# output's processed_at). Planning a run reads the few distinct signatures (an index seek each), not
# a million documents; a day is a range of ``image_times``.
WORK_TABLE = ("CREATE TABLE IF NOT EXISTS image_work (sha256 TEXT PRIMARY KEY, status TEXT, "
              "outputs_sig TEXT NOT NULL, features_version INTEGER, phash TEXT, retrieved_at TEXT, trashed_at TEXT, "
              "problem INTEGER) WITHOUT ROWID")
# Columns added after image_work's first version, with what a file of that version lacks.
WORK_COLUMNS = {"trashed_at": "TEXT", "problem": "INTEGER"}
TIMES_TABLE = ("CREATE TABLE IF NOT EXISTS image_times (at TEXT NOT NULL, kind TEXT NOT NULL, sha256 TEXT NOT NULL, "
               "PRIMARY KEY (at, kind, sha256)) WITHOUT ROWID")
WORK_INDEXES = {
    "ix_work_sig": "image_work (outputs_sig, status)",
    "ix_work_features": "image_work (features_version, status)",
    "ix_work_phash": "image_work (retrieved_at, sha256, phash) WHERE phash IS NOT NULL",
    "ix_times_image": "image_times (sha256)",
    "ix_work_problem": "image_work (sha256) WHERE problem IS NOT NULL",  # the Problems view: a few rows
}
# One line per output, in recipe order: "<recipe> <version> <fingerprint>". A failed output stands for
# its recipe (it is the newer attempt: a success drops it): planning leaves it until the recipe changes.
_OUTPUTS_SIG = ("coalesce((SELECT group_concat(key || ' ' || coalesce(json_extract(value, '$.version'), '') || ' ' "
                "|| coalesce(json_extract(value, '$.fingerprint'), ''), char(10)) FROM (SELECT key, value "
                "FROM json_each(new.doc, '$.outputs') WHERE type = 'object' "
                "AND key NOT IN (SELECT key FROM json_each(new.doc, '$.failures')) "
                "UNION ALL SELECT key, value FROM json_each(new.doc, '$.failures') WHERE type = 'object' "
                "ORDER BY key)), '')")
# 1 when the image is one the Problems view lists (quarantined, a failed output, unexpected attempts).
_PROBLEM = ("CASE WHEN json_extract(new.doc, '$.status') = 'quarantined' OR json_extract(new.doc, '$.attempts') "
            "IS NOT NULL OR EXISTS (SELECT 1 FROM json_each(new.doc, '$.failures')) THEN 1 END")
# trashed_at: NULL when not in the trash, '' when trashed without a time (planning skips both kinds).
_TRASHED_AT = ("CASE WHEN json_extract({doc}, '$.trashed') IS NULL THEN NULL "
               "ELSE coalesce(json_extract({doc}, '$.trashed.at'), '') END")
_WORK_OF = ("INSERT INTO image_work (sha256, status, outputs_sig, features_version, phash, retrieved_at, trashed_at, "
            f"problem) VALUES (new.sha256, json_extract(new.doc, '$.status'), {_OUTPUTS_SIG}, "
            "json_extract(new.doc, '$.features.version'), json_extract(new.doc, '$.features.phash'), "
            f"json_extract(new.doc, '$.retrieved_at'), {_TRASHED_AT.format(doc='new.doc')}, {_PROBLEM})")
_TIMES_OF = """INSERT INTO image_times (at, kind, sha256)
    SELECT at, kind, new.sha256 FROM (
        SELECT json_extract(new.doc, '$.retrieved_at') AS at, 'retrieved' AS kind
        UNION SELECT json_extract(new.doc, '$.quarantine.at'), 'quarantined'
        UNION SELECT json_extract(value, '$.processed_at'), 'output ' || key FROM json_each(new.doc, '$.outputs')
              WHERE type = 'object') WHERE typeof(at) = 'text'"""
_REWORK = (f"DELETE FROM image_work WHERE sha256 = new.sha256; DELETE FROM image_times WHERE sha256 = new.sha256; "
           f"{_WORK_OF}; {_TIMES_OF};")
WORK_TRIGGERS = {
    "tr_work_insert": f"AFTER INSERT ON images BEGIN {_REWORK} END",
    "tr_work_update": f"AFTER UPDATE OF doc ON images BEGIN {_REWORK} END",
    "tr_work_delete": "AFTER DELETE ON images BEGIN DELETE FROM image_work WHERE sha256 = old.sha256; "
                      "DELETE FROM image_times WHERE sha256 = old.sha256; END",
}
# Analytics' facts (schema version 4): a document's lines (:func:`.facts.facts_of`) under each UTC day it
# has a timestamp in, in sha256 order within a day, with the trash time as image_work has it. The
# triggers (plain SQL since 6) file every write as not derived: read as JSON (ANY_DAY, image NULL);
# the write methods then replace that row by the lines (_FACTS_OF, the rows of facts_of bound as JSON).
FACTS_TABLE = ("CREATE TABLE IF NOT EXISTS image_facts (day TEXT NOT NULL, sha256 TEXT NOT NULL, trashed_at TEXT, "
               "image TEXT, outputs TEXT, PRIMARY KEY (day, sha256)) WITHOUT ROWID")
FACTS_INDEXES = {"ix_facts_image": "image_facts (sha256)"}
_NOT_DERIVED = ("INSERT INTO image_facts (day, sha256, trashed_at, image, outputs) "
                f"SELECT '{ANY_DAY}', {{sha256}}, {_TRASHED_AT}, NULL, NULL")
_FACTS_DUE = (f"DELETE FROM image_facts WHERE sha256 = new.sha256; "
              f"{_NOT_DERIVED.format(sha256='new.sha256', doc='new.doc')};")
FACTS_TRIGGERS = {
    "tr_facts_insert": f"AFTER INSERT ON images BEGIN {_FACTS_DUE} END",
    "tr_facts_update": f"AFTER UPDATE OF doc ON images BEGIN {_FACTS_DUE} END",
    "tr_facts_delete": "AFTER DELETE ON images BEGIN DELETE FROM image_facts WHERE sha256 = old.sha256; END",
}
_FACTS_OF = ("INSERT INTO image_facts (day, sha256, trashed_at, image, outputs) "
             f"SELECT json_extract(f.value, '$[0]'), ?1, {_TRASHED_AT.format(doc='?2')}, "
             "json_extract(f.value, '$[1]'), json_extract(f.value, '$[2]') FROM json_each(?3) AS f")
# Images of a near-duplicate group: those naming a group's first image, and the ones named.
_IN_GROUP = ("f.sha256 IN (SELECT sha256 FROM image_fields WHERE dup_of IS NOT NULL "
             "UNION SELECT dup_of FROM image_fields WHERE dup_of IS NOT NULL)")


def _outdated_signature(signature: str, recipes: Iterable[tuple[str, int | None, str | None]]) -> bool:
    """Whether images whose outputs' signature is ``signature`` lack one of ``recipes`` (name, version,
    fingerprint; None: any), or have it of another version or fingerprint."""
    outputs = {parts[0]: parts for parts in (line.split(" ") for line in signature.split("\n") if line)}
    for name, version, fingerprint in recipes:
        if name not in outputs:
            return True
        _, have_version, have_fingerprint = (outputs[name] + ["", ""])[:3]
        if version is not None and have_version != str(version) or \
                fingerprint is not None and have_fingerprint != str(fingerprint):
            return True
    return False


# A day's analytics leave out images trashed before the day (the text test first: no parse when never trashed).
_NOT_TRASHED_BEFORE = ("(instr(doc, '\"trashed\"') = 0 OR coalesce(json_extract(doc, '$.trashed.at') >= ?, 1))")


class SqliteCatalog(SqliteDeliveryLedger, SqliteDailyMetrics, SqliteSavedRecipes, SqliteRequestLedger, Catalog):
    """The embedded default: one SQLite file, a JSON document per image. The documents by key beside
    the images (delivery ledger, metrics, saved recipes, request ledger) are :mod:`.sqlite_keyed`'s."""

    def __init__(self, path: str | Path, timeout: float = 60.0):
        """``timeout``: seconds a statement waits for another writer's lock before it fails with
        ``sqlite3.OperationalError: database is locked`` (the task fails, Airflow retries it)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves so that read-modify-write
        # sequences from parallel tasks serialise instead of losing updates.
        self.conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # Sorts and IN lists (a day's documents for analytics) in memory, not in a temporary file.
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute("CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        for create_table in CREATE_KEYED_TABLES:  # the delivery ledger, metrics and saved recipes (sqlite_keyed)
            self.conn.execute(create_table)
        if self.conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            self._migrate()
            self.refresh_facts()  # what the migration marked not derived

    def _migrate(self) -> None:
        """The listing's and processing's columns, indexes, side tables and triggers, idempotently, in one
        transaction (parallel tasks opening an old file: the first migrates, the others find it done)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if 3 <= version < SCHEMA_VERSION:  # the listing's and processing's tables are there
                self._create_facts()  # the table (from 3), the triggers' plain bodies (from 4)
                if version == 3:
                    self.conn.execute(_NOT_DERIVED.format(sha256="sha256", doc="doc") + " FROM images")
                else:
                    # A line of 4 or 5 says a creator as it is; one holding PAGE_URL (possible then) is derived again.
                    self.conn.execute("CREATE TEMP TABLE facts_again AS SELECT DISTINCT sha256 FROM image_facts "
                                      "WHERE instr(image, ?)", (PAGE_URL,))
                    self.conn.execute("DELETE FROM image_facts WHERE sha256 IN (SELECT sha256 FROM facts_again)")
                    self.conn.execute(_NOT_DERIVED.format(sha256="sha256", doc="doc")
                                      + " FROM images WHERE sha256 IN (SELECT sha256 FROM facts_again)")
                    self.conn.execute("DROP TABLE facts_again")
                if version < 5:
                    self._create_work_indexes()  # the problem column, the triggers' new bodies
                    # Before 5 no document had failures or attempts: the quarantined are the problems.
                    self.conn.execute("UPDATE image_work SET problem = 1 WHERE status = 'quarantined'")
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version < SCHEMA_VERSION:
                self.conn.execute(FIELDS_TABLE)
                self.conn.execute(TERMS_TABLE)
                columns = {r[1] for r in self.conn.execute("PRAGMA table_info(image_fields)")}
                if "trashed_at" not in columns:  # a version 1 file
                    self.conn.execute("ALTER TABLE image_fields ADD COLUMN trashed_at TEXT")
                self._create_indexes_and_triggers(INDEXES, TRIGGERS)
                self._create_work_indexes()
                self._create_facts()
                self.conn.execute("UPDATE images SET doc = doc")  # the update triggers fill the side tables
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _create_work_indexes(self) -> None:
        """Processing's and analytics' side tables, indexes and triggers (see ``WORK_TABLE``)."""
        self.conn.execute(WORK_TABLE)
        self.conn.execute(TIMES_TABLE)
        columns = {r[1] for r in self.conn.execute("PRAGMA table_info(image_work)")}
        for name, kind in WORK_COLUMNS.items():  # trashed_at: issue-16's early version 2; problem: 5
            if name not in columns:
                self.conn.execute(f"ALTER TABLE image_work ADD COLUMN {name} {kind}")
        self._create_indexes_and_triggers(WORK_INDEXES, WORK_TRIGGERS)

    def _create_facts(self) -> None:
        """Analytics' facts table, index and triggers (see ``FACTS_TABLE``)."""
        self.conn.execute(FACTS_TABLE)
        self._create_indexes_and_triggers(FACTS_INDEXES, FACTS_TRIGGERS)

    def _file_facts(self, sha256: str, doc: str) -> None:
        """Replace an image's facts by its document's lines, in the caller's transaction."""
        self.conn.execute("DELETE FROM image_facts WHERE sha256 = ?", (sha256,))
        self.conn.execute(_FACTS_OF, (sha256, doc, facts_of(doc)))

    def refresh_facts(self, batch_size: int = 2000) -> int:
        """Derive the facts of the documents written by another writer than this class (the sqlite3 CLI,
        an older release, a bulk load), ``batch_size`` per transaction; how many were derived. A day's
        reading (:meth:`day_facts`) calls it first: until then, those documents are read as JSON."""
        due = ("SELECT f.sha256, i.doc FROM image_facts AS f JOIN images AS i USING (sha256) "
               "WHERE f.day = ? AND f.image IS NULL AND f.sha256 > ? ORDER BY f.sha256 LIMIT ?")
        derived, after = 0, ""
        while self.conn.execute(due, (ANY_DAY, after, 1)).fetchone():  # (no write lock when there is none)
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                rows = self.conn.execute(due, (ANY_DAY, after, batch_size)).fetchall()
                for sha256, doc in rows:
                    self._file_facts(sha256, doc)
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            if not rows:  # another process derived them meanwhile
                break
            derived, after = derived + len(rows), rows[-1][0]
        return derived

    def _create_indexes_and_triggers(self, indexes: dict[str, str], triggers: dict[str, str]) -> None:
        for name, on in indexes.items():
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")
        for name, body in triggers.items():
            self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")  # an older version's body
            self.conn.execute(f"CREATE TRIGGER {name} {body}")

    def _update(self, sha256: str, change, base: dict[str, Any] | None = None) -> bool:
        """Apply ``change(doc)`` atomically; insert ``base`` (changed) when absent. True if inserted."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute("SELECT doc FROM images WHERE sha256 = ?", (sha256,)).fetchone()
            if row is None and base is None:
                raise KeyError(f"no catalog record for {sha256}")
            doc = json.loads(row[0]) if row else dict(base)  # type: ignore[arg-type]
            change(doc)
            text = json.dumps(doc, sort_keys=True)
            self.conn.execute(
                "INSERT INTO images (sha256, doc) VALUES (?, ?) "
                "ON CONFLICT(sha256) DO UPDATE SET doc = excluded.doc",
                (sha256, text),
            )
            self._file_facts(sha256, text)
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

    def record_processing(self, sha256, outputs, features=None, duplicate_of=None, failures=None) -> None:
        outputs = {check_field(r): normalised_output(o) for r, o in outputs.items()}
        failures = {check_field(r): {**f, "at": to_iso(f["at"])} for r, f in (failures or {}).items()}

        def add_processing(doc: dict[str, Any]) -> None:
            doc["outputs"].update(outputs)
            kept = {r: f for r, f in (doc.get("failures") or {}).items() if r not in outputs}
            if kept or failures:
                doc["failures"] = {**kept, **failures}
            else:
                doc.pop("failures", None)
            doc.pop("attempts", None)
            if doc["outputs"] and doc["status"] != "quarantined":
                doc["status"] = "processed"
            if features is not None:
                doc["features"] = features
                doc["duplicate_of"] = duplicate_of

        self._update(sha256, add_processing)

    def record_quarantine(self, sha256, reason, stage, key, at, base=None, *, kind="image", release=None,
                          run_id=None, attempts=None, dag_id=None) -> None:
        quarantine = quarantine_entry(reason, stage, key, at, kind, release, run_id, attempts, dag_id)

        def quarantine_it(doc: dict[str, Any]) -> None:
            if doc["quarantine"] is None:  # the first quarantine stands: a retry changes nothing
                doc["status"] = "quarantined"
                doc["quarantine"] = quarantine
                doc.pop("attempts", None)

        self._update(sha256, quarantine_it, base)

    def record_attempt(self, sha256, reason, at, *, run_id=None, release=None, dag_id=None) -> int:
        attempt = attempt_entry(reason, at, release, dag_id)

        def count(doc: dict[str, Any]) -> None:
            doc["attempts"] = counted_attempt(doc.get("attempts"), attempt, run_id)

        self._update(sha256, count)
        return (self.get(sha256) or {}).get("attempts", {}).get("count", 0)

    def problems(self, limit=None):
        rows = self.conn.execute(
            "SELECT i.doc FROM image_work w JOIN images i ON i.sha256 = w.sha256 WHERE w.problem IS NOT NULL "
            "AND w.trashed_at IS NULL ORDER BY w.sha256" + (" LIMIT ?" if limit is not None else ""),
            (limit,) if limit is not None else ())
        return [json.loads(doc) for (doc,) in rows]

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
            args.append(f"$.outputs.{check_field(has_output)}")
        if between is not None:
            path, since, until = between
            where.append("json_extract(doc, ?) >= ? AND json_extract(doc, ?) < ?")
            args += [f"$.{check_field(path)}", since, f"$.{path}", until]
        sql = "SELECT doc FROM images" + (" WHERE " + " AND ".join(where) if where else "")
        return [json.loads(r[0]) for r in self.conn.execute(sql + " ORDER BY sha256", args)]

    def iter_images(self, batch_size=1000):
        cursor = self.conn.execute("SELECT doc FROM images ORDER BY sha256")
        cursor.arraysize = batch_size
        while rows := cursor.fetchmany():
            for (doc,) in rows:
                yield json.loads(doc)

    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        if field not in ("version", "fingerprint"):  # another field of the output: no index has it
            return self._outdated(f"$.outputs.{check_field(recipe)}.{check_field(field)}", version)
        wanted = {"version": None, "fingerprint": None, field: version}
        return self.due([(recipe, wanted["version"], wanted["fingerprint"])], None)

    def pending_features(self, version: int) -> list[str]:
        return self.due([], version)

    def due(self, recipes: Iterable[tuple[str, int | None, str | None]], features_version: int | None) -> list[str]:
        # The few distinct output signatures (a loose scan of their index: one seek each), the outdated
        # ones picked here, then one query for their images and the features' outdated ones.
        signatures = [r[0] for r in self.conn.execute(
            "WITH RECURSIVE sig(s) AS (SELECT min(outputs_sig) FROM image_work UNION ALL "
            "SELECT (SELECT min(outputs_sig) FROM image_work WHERE outputs_sig > s) FROM sig WHERE s IS NOT NULL) "
            "SELECT s FROM sig WHERE s IS NOT NULL")]
        outdated = [s for s in signatures if _outdated_signature(s, recipes)]
        parts, args = [], []
        if outdated:
            parts.append(f"outputs_sig IN ({', '.join('?' * len(outdated))})")
            args += outdated
        if features_version is not None:
            parts.append("(features_version < ? OR features_version > ? OR features_version IS NULL)")
            args += [features_version, features_version]
        if not parts:
            return []
        rows = self.conn.execute(f"SELECT sha256 FROM image_work WHERE ({' OR '.join(parts)}) "
                                 "AND status != 'quarantined' AND trashed_at IS NULL ORDER BY sha256", args)
        return [r[0] for r in rows]

    def _outdated(self, path: str, value: int | str) -> list[str]:
        rows = self.conn.execute(
            "SELECT sha256 FROM images WHERE json_extract(doc, '$.status') != 'quarantined' "
            "AND json_extract(doc, '$.trashed') IS NULL "
            "AND coalesce(json_extract(doc, ?), -1) != ? ORDER BY sha256", (path, value),
        )
        return [r[0] for r in rows]

    def phashes(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT sha256, phash FROM image_work WHERE phash IS NOT NULL "
                                 "ORDER BY retrieved_at, sha256")
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

    def touched(self, since, until, recipes=(), batch_size=1000):
        for doc in self.touched_json(since, until, recipes, batch_size):
            yield json.loads(doc)

    def touched_json(self, since, until, recipes=(), batch_size=1000):
        # A range of image_times (its key), then the documents by their key, as UTF-8 bytes (no
        # decoding into str: the reader parses them).
        kinds = ["retrieved", "quarantined", *(f"output {check_field(r)}" for r in recipes)]
        cursor = self.conn.execute(
            "SELECT CAST(doc AS BLOB) FROM images WHERE sha256 IN (SELECT sha256 FROM image_times "
            f"WHERE at >= ? AND at < ? AND kind IN ({', '.join('?' * len(kinds))})) AND sha256 NOT IN "
            "(SELECT sha256 FROM image_work WHERE trashed_at != '' AND trashed_at < ?) ORDER BY sha256",
            [since, until, *kinds, since])
        cursor.arraysize = batch_size
        while rows := cursor.fetchmany():
            for (doc,) in rows:
                yield doc

    def day_facts(self, day, since, batch_size=20_000):
        # The day's range of image_facts, in sha256 order, as UTF-8 bytes; then the documents read as JSON
        # (those written by another writer derived first).
        self.refresh_facts()
        kept = "(trashed_at IS NULL OR trashed_at = '' OR trashed_at >= ?)"  # as touched(): not trashed before

        def lines():
            cursor = self.conn.execute("SELECT CAST(image AS BLOB), CAST(outputs AS BLOB) FROM image_facts "
                                       f"WHERE day = ? AND {kept} ORDER BY sha256", (day, since))
            cursor.arraysize = batch_size
            while rows := cursor.fetchmany():
                yield [r[0] for r in rows], [r[1] for r in rows if r[1]]

        def documents():
            cursor = self.conn.execute("SELECT CAST(i.doc AS BLOB) FROM image_facts AS f JOIN images AS i USING "
                                       f"(sha256) WHERE f.day = ? AND {kept} ORDER BY sha256", (ANY_DAY, since))
            for (doc,) in cursor:
                yield doc

        return lines(), documents()

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
