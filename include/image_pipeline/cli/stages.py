"""The gallery's stages from the command line: ``upload``, ``retrieve``, ``process-pending``,
``retry``, ``problems``, ``report``, ``deliver``, ``last-delivery``, ``resolve-delivery``.

They work on the gallery the DAGs use, from the same settings (``GALLERY_*``), with backends built
by :mod:`image_pipeline.wiring`. Without Airflow there are no Airflow connections: S3 uses boto3's
own configuration, MongoDB ``GALLERY_MONGO_URI``, Flickr ``FLICKR_APIKEY``, Rekognition boto3's
configuration, and email always goes to the outbox. Each command prints its result as JSON
(``last-delivery``: three ``name: value`` lines).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from image_pipeline import wiring
from image_pipeline.core.errors import InvalidRequest, RecipeError
from image_pipeline.settings import Settings, SettingsError

SETTINGS_NOTE = "Store, catalog and recipes come from the GALLERY_* settings (docs/reference/settings.md)."


@contextmanager
def backends(cfg: Settings) -> Iterator[tuple[Any, Any]]:
    """(object store, catalog) as the settings describe them, outside Airflow."""
    def mongo_client():
        import pymongo

        uri = cfg.catalog.mongo_uri
        if not uri:
            raise SystemExit("GALLERY_CATALOG=mongo needs GALLERY_MONGO_URI outside Airflow")
        return pymongo.MongoClient(uri)

    with wiring.catalog(cfg, mongo_client) as catalog:
        yield wiring.object_store(cfg), catalog


def _display(url: str) -> str:
    """A local path for file:// URLs (what a person can open), the URL otherwise."""
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


def _settings(parser: argparse.ArgumentParser) -> Settings:
    try:
        return wiring.settings()
    except SettingsError as exc:
        parser.error(str(exc))  # exits 2
        raise  # unreachable


def _print(args: argparse.Namespace, result: Any) -> int:
    print(json.dumps(result, indent=2, default=str), file=args.out)
    return 0


def upload(args: argparse.Namespace) -> int:
    from image_pipeline.retrieve.inbox import upload_to_inbox

    if not args.folder.is_dir():
        args.parser.error(f"not a folder: {args.folder}")
    with backends(_settings(args.parser)) as (store, _):
        return _print(args, {"uploaded": len(upload_to_inbox(store, args.folder))})


def retrieve(args: argparse.Namespace) -> int:
    from image_pipeline.retrieve.ingest import retrieve as retrieve_request
    from image_pipeline.retrieve.request import validate_request

    cfg = _settings(args.parser)
    try:
        filters = json.loads(args.filters) if args.filters else {}
        requests = validate_request(engine=args.engine, keywords=args.keyword, count=args.count, filters=filters,
                                    site_url=args.site_url, urls=args.url, max_count=cfg.downloads.max_count)
    except (json.JSONDecodeError, InvalidRequest) as exc:  # the filters' JSON, or the request refused
        args.parser.error(str(exc))
    run_id = f"cli__{uuid.uuid4().hex[:12]}"
    with backends(cfg) as (store, catalog):
        return _print(args, [retrieve_request(store, catalog, r, run_id=run_id, policy=wiring.fetch_policy(cfg),
                                        endpoints=cfg.downloads.endpoints(),
                                        idle_timeout=cfg.downloads.crawl_idle_timeout,
                                        api_keys={"flickr": os.environ.get("FLICKR_APIKEY", "")}).as_dict()
                       for r in requests])


def process_pending(args: argparse.Namespace) -> int:
    from image_pipeline.process.batches import plan_batches, process_batch

    cfg = _settings(args.parser)
    recipes = wiring.processing_recipes(cfg, args.recipe or cfg.processing.recipe_names())  # + the gallery's thumbnails
    batch_size = args.batch_size or cfg.processing.batch_size

    def rekognition():
        import boto3

        return boto3.client("rekognition")  # boto3's own configuration, outside Airflow

    from image_pipeline.process.batches import COUNTS
    from image_pipeline.process.recovery import upgrade_retries

    result: dict[str, Any] = {**dict.fromkeys(COUNTS, 0), "problems": []}
    with backends(cfg) as (store, catalog):
        book = wiring.recipe_book(cfg, catalog)  # the files and the recipes saved from the gallery
        try:
            for name in recipes:
                book.get(name)
        except (InvalidRequest, RecipeError) as exc:  # an unknown or broken recipe: a usage error
            args.parser.error(str(exc))
        upgrade_retries(catalog)
        extraction = wiring.feature_extraction(cfg, rekognition)
        for batch in plan_batches(catalog, recipes, batch_size,
                                  features_version=extraction.get("features_version"), book=book):
            counts = process_batch(store, catalog, recipes, batch, limits=wiring.limits(cfg), book=book,
                                   max_attempts=cfg.processing.max_attempts, **extraction)
            for key in COUNTS:
                result[key] += counts[key]
            result["problems"] += counts["problems"]
    return _print(args, result)


def retry(args: argparse.Namespace) -> int:
    """Images tried again: the named ones, or every image with a problem (``--all``)."""
    from image_pipeline.process.recovery import retry_images

    if bool(args.sha256) == bool(args.all):
        args.parser.error("name the images to try again (their sha256), or give --all")
    with backends(_settings(args.parser)) as (store, catalog):
        chosen = args.sha256 or [d["sha256"] for d in catalog.problems()]
        return _print(args, retry_images(store, catalog, chosen, args.by))


def problems(args: argparse.Namespace) -> int:
    """The images with a problem: quarantined, failed outputs, unexpected failures being retried."""
    with backends(_settings(args.parser)) as (_, catalog):
        return _print(args, [{"sha256": d["sha256"], "status": d["status"], "quarantine": d.get("quarantine"),
                              "failures": d.get("failures") or {}, "attempts": d.get("attempts")}
                             for d in catalog.problems(args.limit)])


def report(args: argparse.Namespace) -> int:
    from image_pipeline.analytics import rollup, write_daily_report

    cfg = _settings(args.parser)
    with backends(cfg) as (store, catalog):
        return _print(args, {**write_daily_report(store, catalog, args.day, wiring.recipe_book(cfg, catalog).names()),
                       "overview": rollup(store)["totals"]})


def deliver(args: argparse.Namespace) -> int:
    from image_pipeline.core.selection import Selection
    from image_pipeline.deliver import deliver as deliver_selection

    cfg = _settings(args.parser)
    with backends(cfg) as (store, catalog):
        try:
            recipe = wiring.recipe_book(cfg, catalog).get(args.recipe)
        except (InvalidRequest, RecipeError) as exc:  # an unknown or broken recipe: a usage error
            args.parser.error(str(exc))
        return _print(args, deliver_selection(
            store, catalog, wiring.mailer(cfg, store), Selection(args.keyword, args.run_id), recipe,
            recipient=args.to or cfg.email.email_to, sender=cfg.email.email_from,
            attach_max_bytes=cfg.email.attach_max_bytes,
            link_expiry_seconds=cfg.email.link_expiry_seconds, templates_dir=cfg.email.email_templates,
        ))


def last_delivery(args: argparse.Namespace) -> int:
    with backends(_settings(args.parser)) as (store, catalog):
        sent = [d for d in catalog.deliveries()
                if d["status"] == "sent" and (not args.keyword or d["selection"]["keyword"] == args.keyword)]
        if not sent:
            print("no delivery yet", file=sys.stderr)
            return 1
        last = max(sent, key=lambda d: d["sent_at"])
        print(f"images: {last['images']}", file=args.out)
        print(f"archive: {_display(store.url.rstrip('/') + '/' + last['archive_key'])}", file=args.out)
        print(f"email: {_display(last['location'])}", file=args.out)
    return 0


def resolve_delivery(args: argparse.Namespace) -> int:
    from image_pipeline.deliver.ledger import resolve_uncertain

    with backends(_settings(args.parser)) as (_, catalog):
        return _print(args, resolve_uncertain(catalog, args.id, args.outcome))


def register(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add the gallery's stage commands to ``sub`` (the ``gallery`` parser's subparsers)."""
    from image_pipeline.retrieve.sources import ENGINES

    def command(name: str, handler, help: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=f"{textwrap.fill(description, 96)}\n\n{SETTINGS_NOTE}",
                           epilog="examples:\n" + "\n".join(f"  {e}" for e in examples), formatter_class=formatter)
        p.set_defaults(handler=handler, parser=p)
        return p

    p = command("upload", upload, "put a folder's files into the gallery's inbox zone",
                "Copy every file under FOLDER into the store's inbox zone, where `retrieve --engine inbox` "
                "(or the gallery_inbox DAG) ingests them.",
                ["gallery upload ~/Pictures", "gallery upload ~/Pictures && gallery retrieve --engine inbox"])
    p.add_argument("folder", type=Path, metavar="FOLDER", help="the folder to upload (recursively)")

    p = command("retrieve", retrieve, "retrieve images into the gallery's raw zone",
                "Retrieve images (a search, a site, a list of URLs or the inbox) into the raw zone and the "
                "catalog, as the gallery_retrieve DAG does; the request is checked before anything is fetched.",
                ["gallery retrieve --engine inbox --keyword holiday",
                 "gallery retrieve --engine bing --keyword lighthouse --keyword harbour --count 20",
                 "gallery retrieve --engine greedy --site-url https://example.com/gallery/",
                 "gallery retrieve --engine urls --url https://example.com/a.jpg --url https://example.com/b.png",
                 "FLICKR_APIKEY=... gallery retrieve --engine flickr --keyword owl --filters '{\"license\": \"4\"}'"])
    p.add_argument("--engine", default="inbox", choices=ENGINES, metavar="ENGINE",
                   help=f"where the images come from: {', '.join(ENGINES)} (default: inbox)")
    p.add_argument("--keyword", action="append", default=[], metavar="WORD",
                   help="a search keyword (search engines need at least one; repeat for several: one task each); "
                        "for the other engines, the keyword the images are filed under")
    p.add_argument("--count", type=int, default=20, metavar="N",
                   help="images to retrieve per keyword, 1 to GALLERY_MAX_COUNT (default: 20)")
    p.add_argument("--filters", metavar="JSON", help="search filters as a JSON object, per engine "
                   "(e.g. '{\"size\": \"large\"}'); search engines only")
    p.add_argument("--site-url", default="", metavar="URL", help="the site to crawl (engine greedy)")
    p.add_argument("--url", action="append", default=[], metavar="URL",
                   help="an image URL to fetch (engine urls); repeat for several")

    p = command("process-pending", process_pending, "run recipes over the gallery's images that lack outputs",
                "Produce every recipe's output for each image in the catalog that lacks it (or whose "
                "recipe changed), one decode per image, in batches; what the gallery_process DAG does. "
                "(To process a folder of files instead, use `gallery process SRC DEST`.) Formerly "
                "`image-pipeline process`.",
                ["gallery process-pending", "gallery process-pending --recipe web --recipe thumb --batch-size 50"])
    p.add_argument("--recipe", action="append", metavar="NAME",
                   help="a recipe name; repeat for several (default: GALLERY_RECIPES)")
    p.add_argument("--batch-size", type=int, metavar="N",
                   help="images per batch (default: GALLERY_BATCH_SIZE, 25)")

    p = command("problems", problems, "list the images processing had problems with",
                "Quarantined images (with whose fault it was), failed recipe outputs and unexpected failures "
                "still being tried, as JSON: what the gallery's Problems view shows.",
                ["gallery problems", "gallery problems --limit 20"])
    p.add_argument("--limit", type=int, metavar="N", help="at most N images")

    p = command("retry", retry, "try failed images again (quarantined, failed outputs)",
                "Lift the quarantine of the named images and forget their failed outputs and unexpected "
                "failures, so the next processing (`gallery process-pending`, or the gallery_process DAG) "
                "does them again; a file quarantined at retrieval comes back only if it now reads as an image. "
                "What the gallery's Retry does.",
                ["gallery retry 3f5a...e1 9b0c...44", "gallery retry --all"])
    p.add_argument("sha256", nargs="*", help="the images' sha256")
    p.add_argument("--all", action="store_true", help="every image with a problem")
    p.add_argument("--by", default=os.environ.get("USER") or "cli", help="who retries (the images' history)")

    p = command("report", report, "write a day's analytics report and rebuild the overview",
                "Write the day's Parquet partition, metrics and HTML report from the catalog, then rebuild "
                "the overview across days; what the gallery_analytics DAG does.",
                ["gallery report", "gallery report --day 2026-11-21"])
    p.add_argument("--day", type=date.fromisoformat, default=datetime.now(timezone.utc).date(), metavar="YYYY-MM-DD",
                   help="the day (UTC) to report on (default: today)")

    p = command("deliver", deliver, "archive a selection of outputs and email it",
                "Put one recipe's outputs of a selection (a keyword, a retrieval run, or both) into a ZIP with "
                "its manifest and email it once (outside Airflow: to the outbox); what gallery_deliver does.",
                ["gallery deliver --keyword lighthouse", "gallery deliver --keyword lighthouse --recipe web "
                 "--to you@example.com", "gallery deliver --run-id cli__3f2a9c01b7d4"])
    p.add_argument("--keyword", metavar="WORD", help="select the images of this keyword")
    p.add_argument("--run-id", metavar="ID", help="select the images of this retrieval run")
    p.add_argument("--recipe", default="half_gray", metavar="NAME",
                   help="whose outputs to deliver (default: half_gray)")
    p.add_argument("--to", metavar="ADDRESS", help="recipient (default: GALLERY_EMAIL_TO)")

    p = command("last-delivery", last_delivery, "print the archive and email of the latest delivery",
                "Print the number of images, the archive and the email of the latest sent delivery "
                "(exit status 1 when there is none).",
                ["gallery last-delivery", "gallery last-delivery --keyword lighthouse"])
    p.add_argument("--keyword", metavar="WORD", help="only deliveries of this keyword")

    p = command("resolve-delivery", resolve_delivery, "settle an uncertain delivery: mark it sent, or resend",
                "A delivery is uncertain when a worker died while sending it: it may or may not have "
                "gone out. Record the operator's decision: `sent` (it arrived; never send it again) or "
                "`resend` (the next attempt sends it).",
                ["gallery resolve-delivery 3740ec0... --as sent", "gallery resolve-delivery 3740ec0... --as resend"])
    p.add_argument("id", metavar="ID", help="the delivery's id (from the catalog, or the failure email)")
    p.add_argument("--as", dest="outcome", choices=["sent", "resend"], required=True,
                   help="sent: mark it delivered; resend: let the next attempt send it again")
