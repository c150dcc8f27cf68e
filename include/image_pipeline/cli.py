"""``image-pipeline``: the library's stages from the command line, without Airflow.

Uses the same settings as the DAGs (``GALLERY_*``). Without Airflow there are no Airflow
connections: S3 uses boto3's own configuration, MongoDB ``GALLERY_MONGO_URI``, Flickr
``FLICKR_APIKEY``, and email always goes to the outbox.

    image-pipeline upload DIR             # put a folder's files into the store's inbox zone
    image-pipeline retrieve --engine inbox --keyword cats
    image-pipeline retrieve --engine bing --keyword cats --count 20
    image-pipeline process
    image-pipeline report --day 2026-11-21
    image-pipeline deliver --keyword cats --to you@example.com
    image-pipeline last-delivery --keyword cats
    image-pipeline resolve-delivery <delivery id> --as sent
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from image_pipeline import wiring
from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import ObjectStore
from image_pipeline.settings import Settings


@contextmanager
def backends(cfg: Settings) -> Iterator[tuple[ObjectStore, Catalog]]:
    def mongo_client():
        import pymongo

        uri = os.environ.get("GALLERY_MONGO_URI")
        if not uri:
            raise SystemExit("GALLERY_CATALOG=mongo needs GALLERY_MONGO_URI outside Airflow")
        return pymongo.MongoClient(uri)

    with wiring.catalog(cfg, mongo_client) as catalog:
        yield wiring.object_store(cfg), catalog


def _display(url: str) -> str:
    """A local path for file:// URLs (what a person can open), the URL otherwise."""
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image-pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("upload", help="put a folder's files into the inbox zone")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("retrieve", help="retrieve images into the raw zone")
    p.add_argument("--engine", default="inbox")
    p.add_argument("--keyword", action="append", default=[])
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--site-url", default="")
    p.add_argument("--url", action="append", default=[])
    p = sub.add_parser("process", help="run recipes over pending images (one decode for all of them)")
    p.add_argument("--recipe", action="append", help="repeat for several (default: GALLERY_RECIPES)")
    p = sub.add_parser("report", help="write a day's report and rebuild the overview")
    p.add_argument("--day", type=date.fromisoformat, default=datetime.now(timezone.utc).date())
    p = sub.add_parser("deliver", help="archive a selection and email it (to the outbox)")
    p.add_argument("--keyword")
    p.add_argument("--run-id")
    p.add_argument("--recipe", default="half_gray")
    p.add_argument("--to")
    p = sub.add_parser("resolve-delivery", help="an uncertain delivery (a worker died while sending): "
                                               "mark it sent, or let the next attempt send it again")
    p.add_argument("id")
    p.add_argument("--as", dest="outcome", choices=["sent", "resend"], required=True)
    p = sub.add_parser("last-delivery", help="print the archive and email of the latest delivery")
    p.add_argument("--keyword")
    args = parser.parse_args(argv)

    cfg = Settings.from_env()
    with backends(cfg) as (store, catalog):
        if args.command == "upload":
            from image_pipeline.retrieve.inbox import upload_to_inbox

            result = {"uploaded": len(upload_to_inbox(store, args.folder))}
        elif args.command == "retrieve":
            from image_pipeline.retrieve.ingest import retrieve
            from image_pipeline.retrieve.request import validate_request

            requests = validate_request(engine=args.engine, keywords=args.keyword, count=args.count,
                                        site_url=args.site_url, urls=args.url, max_count=cfg.max_count)
            run_id = f"cli__{uuid.uuid4().hex[:12]}"
            result = [retrieve(store, catalog, r, run_id=run_id, policy=wiring.fetch_policy(cfg),
                               endpoints=cfg.endpoints(), idle_timeout=cfg.crawl_idle_timeout,
                               api_keys={"flickr": os.environ.get("FLICKR_APIKEY", "")}).as_dict()
                      for r in requests]
        elif args.command == "process":
            from image_pipeline.process.batches import plan_batches, process_batch

            recipes = args.recipe or cfg.recipe_names()
            result = {"processed": 0, "quarantined": 0, "skipped": 0}

            def rekognition():
                import boto3

                return boto3.client("rekognition")  # boto3's own configuration, outside Airflow

            extraction = wiring.feature_extraction(cfg, rekognition)
            book = wiring.recipe_book(cfg)
            for batch in plan_batches(catalog, recipes, cfg.batch_size,
                                      features_version=extraction.get("features_version"), book=book):
                for k, v in process_batch(store, catalog, recipes, batch, limits=wiring.limits(cfg), book=book,
                                          **extraction).items():
                    result[k] += v
        elif args.command == "report":
            from image_pipeline.analytics.metrics import rollup, write_daily_report

            result = {**write_daily_report(store, catalog, args.day, wiring.recipe_book(cfg).names()),
                      "overview": rollup(store)["totals"]}
        elif args.command == "deliver":
            from image_pipeline.core.selection import Selection
            from image_pipeline.deliver import deliver

            result = deliver(
                store, catalog, wiring.mailer(cfg, store), Selection(args.keyword, args.run_id),
                wiring.recipe_book(cfg).get(args.recipe),
                recipient=args.to or cfg.email_to, sender=cfg.email_from,
                attach_max_bytes=cfg.attach_max_bytes, link_expiry_seconds=cfg.link_expiry_seconds,
                templates_dir=cfg.email_templates,
            )
        elif args.command == "resolve-delivery":
            from image_pipeline.deliver.ledger import resolve_uncertain

            result = resolve_uncertain(catalog, args.id, args.outcome)
        else:  # last-delivery
            sent = [d for d in catalog.deliveries()
                    if d["status"] == "sent" and (not args.keyword or d["selection"]["keyword"] == args.keyword)]
            if not sent:
                print("no delivery yet", file=sys.stderr)
                return 1
            last = max(sent, key=lambda d: d["sent_at"])
            print(f"images: {last['images']}")
            print(f"archive: {_display(store.url.rstrip('/') + '/' + last['archive_key'])}")
            print(f"email: {_display(last['location'])}")
            return 0
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
