"""``image-pipeline``: the library's stages from the command line, without Airflow.

Uses the same settings as the DAGs (``GALLERY_*``). Without Airflow there are no Airflow
connections: S3 uses boto3's own configuration, MongoDB ``GALLERY_MONGO_URI``, Flickr
``FLICKR_APIKEY``, and email always goes to the outbox.

    image-pipeline samples DIR            # a small offline sample set (plus two broken files)
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

from image_pipeline.catalog import Catalog, MongoCatalog, SqliteCatalog
from image_pipeline.settings import Settings
from image_pipeline.storage import ObjectStore, open_store


@contextmanager
def backends(cfg: Settings) -> Iterator[tuple[ObjectStore, Catalog]]:
    store = open_store(cfg.store_url)
    if cfg.catalog == "mongo":
        import pymongo

        uri = os.environ.get("GALLERY_MONGO_URI")
        if not uri:
            raise SystemExit("GALLERY_CATALOG=mongo needs GALLERY_MONGO_URI outside Airflow")
        client = pymongo.MongoClient(uri)
        catalog: Catalog = MongoCatalog(client[cfg.mongo_db], owns_client=client)
    else:
        catalog = SqliteCatalog(cfg.sqlite_path)
    with catalog:
        yield store, catalog


def make_samples(dest: Path, count: int = 6) -> list[Path]:
    """Write ``count`` generated images (JPEG, one with EXIF rotation, PNG with alpha, palette GIF),
    a file that only pretends to be a JPEG and a truncated JPEG. Re-running rewrites the same bytes."""
    from PIL import Image, ImageDraw

    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        width, height = 640 + 64 * i, 480 + 48 * i
        im = Image.new("RGB", (width, height))
        draw = ImageDraw.Draw(im)
        for y in range(0, height, 8):  # a colour gradient with some structure to compress
            draw.rectangle([0, y, width, y + 8], fill=(40 * i % 256, y * 255 // height, 255 - y * 255 // height))
        draw.ellipse([width // 4, height // 4, 3 * width // 4, 3 * height // 4], fill=(250, 220, 40 * i % 256))
        draw.text((20, 20), f"sample {i}", fill=(255, 255, 255))
        kind = i % 3
        if kind == 0:
            path = dest / f"sample-{i}.jpg"
            exif = Image.Exif()
            exif[0x0112] = 6 if i == 3 else 1  # one image needs rotating upright
            im.save(path, "JPEG", quality=90, exif=exif.tobytes())
        elif kind == 1:
            path = dest / f"sample-{i}.png"
            im.putalpha(200)
            im.save(path, "PNG")
        else:
            path = dest / f"sample-{i}.gif"
            im.convert("P", palette=Image.Palette.ADAPTIVE).save(path, "GIF")
        written.append(path)
    broken = dest / "broken.jpg"  # not an image at all: quarantined when retrieved
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    truncated = dest / "truncated.jpg"  # a valid header, cut-off pixels: quarantined when processed
    full = written[0].read_bytes()
    truncated.write_bytes(full[: len(full) // 2])
    return written + [broken, truncated]


def _display(url: str) -> str:
    """A local path for file:// URLs (what a person can open), the URL otherwise."""
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="image-pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("samples", help="write a small offline sample set")
    p.add_argument("dest", type=Path)
    p.add_argument("--count", type=int, default=6)
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

    if args.command == "samples":
        for path in make_samples(args.dest, args.count):
            print(path)
        return 0

    cfg = Settings.from_env()
    with backends(cfg) as (store, catalog):
        if args.command == "upload":
            from image_pipeline.retrieve import upload_to_inbox

            result = {"uploaded": len(upload_to_inbox(store, args.folder))}
        elif args.command == "retrieve":
            from image_pipeline.retrieve import retrieve, validate_request

            requests = validate_request(engine=args.engine, keywords=args.keyword, count=args.count,
                                        site_url=args.site_url, urls=args.url, max_count=cfg.max_count)
            run_id = f"cli__{uuid.uuid4().hex[:12]}"
            result = [retrieve(store, catalog, r, run_id=run_id, policy=cfg.fetch_policy(),
                               endpoints=cfg.endpoints(), idle_timeout=cfg.crawl_idle_timeout,
                               api_keys={"flickr": os.environ.get("FLICKR_APIKEY", "")}).as_dict()
                      for r in requests]
        elif args.command == "process":
            from image_pipeline.process import plan_batches, process_batch

            recipes = args.recipe or cfg.recipe_names()
            result = {"processed": 0, "quarantined": 0, "skipped": 0}
            from image_pipeline.features import feature_extraction

            def rekognition():
                import boto3

                return boto3.client("rekognition")  # boto3's own configuration, outside Airflow

            extraction = feature_extraction(cfg, rekognition)
            for batch in plan_batches(catalog, recipes, cfg.batch_size,
                                      features_version=extraction.get("features_version")):
                for k, v in process_batch(store, catalog, recipes, batch, limits=cfg.limits(), **extraction).items():
                    result[k] += v
        elif args.command == "report":
            from image_pipeline.analytics import rollup, write_daily_report

            result = {**write_daily_report(store, catalog, args.day), "overview": rollup(store)["totals"]}
        elif args.command == "deliver":
            from image_pipeline.delivery import Selection, deliver
            from image_pipeline.mail import OutboxMailer

            result = deliver(
                store, catalog, OutboxMailer(store), Selection(args.recipe, args.keyword, args.run_id),
                recipient=args.to or cfg.email_to, sender=cfg.email_from,
                attach_max_bytes=cfg.attach_max_bytes, link_expiry_seconds=cfg.link_expiry_seconds,
                templates_dir=cfg.email_templates,
            )
        elif args.command == "resolve-delivery":
            from image_pipeline.delivery import resolve_uncertain

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
