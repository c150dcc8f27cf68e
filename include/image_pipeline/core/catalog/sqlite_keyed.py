"""The SQLite catalog's documents beside the images, one table each, a JSON document by key: the
delivery ledger (by id), the daily metrics (by day), the saved recipes (by name) and the request
ledger (by run). Each class is one role of :mod:`.roles` over the catalog's connection ``conn``;
:class:`~.sqlite.SqliteCatalog` opens it, creates ``CREATE_KEYED_TABLES`` and names these classes among
its bases.
None of them reads the images or their side tables (which :mod:`.sqlite` keeps by triggers)."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from image_pipeline.core.catalog.base import request_window, to_iso
from image_pipeline.core.catalog.roles import DailyMetrics, DeliveryLedger, RequestLedger, SavedRecipes

# Created when the catalog is opened (the request ledger's own table: with its first entry).
CREATE_KEYED_TABLES = (
    "CREATE TABLE IF NOT EXISTS deliveries (id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS metrics (day TEXT PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS recipes (name TEXT PRIMARY KEY, doc TEXT NOT NULL)",
)


class SqliteDeliveryLedger(DeliveryLedger):
    """Table ``deliveries``: an entry by id."""

    conn: sqlite3.Connection

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


class SqliteDailyMetrics(DailyMetrics):
    """Table ``metrics``: a document by day."""

    conn: sqlite3.Connection

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


class SqliteSavedRecipes(SavedRecipes):
    """Table ``recipes``: a recipe by name, its version bumped in the save's transaction."""

    conn: sqlite3.Connection

    def save_recipe(self, name: str, spec: dict[str, Any], saved_by: str, saved_at: str) -> dict[str, Any]:
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

    def saved_recipes(self) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.conn.execute("SELECT doc FROM recipes ORDER BY name")]


class SqliteRequestLedger(RequestLedger):
    """Table ``request_ledger``, created with the first entry (no migration: nothing else reads it), one
    row per run, kept: a retry or a clear of any run finds its decision."""

    conn: sqlite3.Connection

    def admit_request(self, run_id: str, user: str, at: datetime | str, limit: int, window: int) -> dict[str, Any]:
        at, since, until = request_window(at, window)
        self.conn.execute("BEGIN IMMEDIATE")  # count and record as one step: parallel checks queue here
        try:
            self.conn.execute("CREATE TABLE IF NOT EXISTS request_ledger (run_id TEXT PRIMARY KEY, "
                              "user TEXT NOT NULL, at TEXT NOT NULL, admitted INTEGER NOT NULL)")
            self.conn.execute("CREATE INDEX IF NOT EXISTS ix_request_ledger_user ON request_ledger (user, at)")
            row = self.conn.execute("SELECT user, at, admitted FROM request_ledger WHERE run_id = ?",
                                    (run_id,)).fetchone()
            if row is None:
                others = self.conn.execute("SELECT count(*) FROM request_ledger WHERE user = ? AND at > ? AND at < ?",
                                           (user, since, until)).fetchone()[0]
                row = (user, at, int(others < limit))
                self.conn.execute("INSERT INTO request_ledger (run_id, user, at, admitted) VALUES (?, ?, ?, ?)",
                                  (run_id, *row))
            else:  # recorded before: its own user and time
                since, until = request_window(row[1], window)[1:]
            recent = [r[0] for r in self.conn.execute(
                "SELECT at FROM request_ledger WHERE user = ? AND at > ? AND at < ? ORDER BY at, run_id",
                (row[0], since, until))]
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return {"run_id": run_id, "user": row[0], "at": row[1], "admitted": bool(row[2]), "recent": recent}
