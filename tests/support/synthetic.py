"""Realistic synthetic catalog documents, for the analytics tests and benchmark.

Documents have the catalog's shape after processing records features (see ``catalog.py`` and the
``features``, ``duplicate_of`` and ``outputs[recipe].timings`` fields): several engines and source
domains, licences and creators where the source gives them, images seen from several sources,
near-duplicates, quarantines at retrieval and at processing, outputs processed hours after
retrieval (sometimes the next day), and old documents without features or timings.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Iterator

from image_pipeline.core.catalog import Catalog, MongoCatalog, SqliteCatalog

KEYWORDS = ["cats", "dogs", "mountains", "beaches", "city at night", "forest", "flowers", "cars"]
ENGINES = {"bing": 30, "google": 25, "flickr": 20, "greedy": 10, "urls": 8, "inbox": 7}
DOMAINS = ["upload.wikimedia.org", "images.unsplash.com", "live.staticflickr.com", "cdn.pixabay.com",
           "i.imgur.com", "photos.example.org", "media.gettyimages.com", "blog.example.net"]
LICENCES = ["cc-by", "cc-by-sa", "cc0", "flickr-license-4", "flickr-license-9", "all-rights-reserved"]
CREATORS = [f"photographer{i:02d}" for i in range(25)]
FORMATS = {"JPEG": 70, "PNG": 18, "WEBP": 8, "GIF": 4}
SIZES = [(640, 480), (800, 600), (1024, 768), (1280, 720), (1920, 1080), (2048, 1365), (3000, 2000),
         (4000, 3000), (6000, 4000), (1080, 1350), (1080, 1920), (512, 512), (2560, 1440)]
LABELS = ["tabby cat", "golden retriever", "alp", "seashore", "skyscraper", "valley", "daisy", "sports car",
          "lakeside", "volcano", "tiger cat", "beagle", "streetcar", "pier", "palace", "cliff", "rapeseed",
          "convertible", "monastery", "sandbar", "coral reef", "lighthouse", "geyser", "promontory", "bubble"]
REASONS = {("retrieve", "not an image"): 5, ("retrieve", "too many pixels"): 2,
           ("process", "image file is truncated"): 4, ("process", "cannot identify image file"): 3,
           ("process", "decompression bomb"): 1}
RECIPES = {"half_gray": ("JPEG", ["decode", "grayscale", "resize", "encode"]),
           "web": ("WEBP", ["decode", "resize", "encode"]),
           "thumb": ("JPEG", ["decode", "resize", "sharpen", "encode"])}


def _pick(rng: random.Random, weights: dict) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def image_doc(rng: random.Random, at: datetime, index: int, earlier: list[str]) -> dict[str, Any]:
    """One image first retrieved at ``at``, with what processing and later retrievals added."""
    sha = hashlib.sha256(f"{at.isoformat()}-{index}".encode()).hexdigest()
    fmt = _pick(rng, FORMATS)
    width, height = rng.choice(SIZES)
    if rng.random() < 0.3:
        width, height = height, width
    size = int(width * height * rng.uniform(0.08, 0.6)) + 2000
    keyword = rng.choice(KEYWORDS)
    sources, keywords, run_ids = [], [keyword], [f"scheduled__{at.date()}"]
    for n in range(1 + (rng.random() < 0.12) + (rng.random() < 0.04)):
        engine = _pick(rng, ENGINES)
        domain = rng.choice(DOMAINS)
        entry: dict[str, Any] = {"source": engine, "uri": f"https://{domain}/img/{sha[:12]}-{n}.jpg"}
        if engine in {"bing", "google", "flickr", "greedy"}:
            entry["page_url"] = f"https://{domain}/page/{sha[:8]}"
        if engine == "inbox":
            entry = {"source": "inbox", "uri": f"inbox/{sha[:8]}.jpg"}
        if engine == "flickr":
            creator = rng.choice(CREATORS)
            entry["page_url"] = f"https://www.flickr.com/photos/{creator}/{index}"
            entry["licence"] = rng.choice(LICENCES[3:5])
        elif engine in {"bing", "google"} and rng.random() < 0.5:
            entry["licence"] = rng.choice(LICENCES)
        if n:
            extra = rng.choice(KEYWORDS)
            if extra not in keywords:
                keywords.append(extra)
            run_ids.append(f"manual__{at.date()}-{n}")
        if entry not in sources:
            sources.append(entry)
    doc: dict[str, Any] = {
        "sha256": sha, "raw_key": f"raw/{sha[:2]}/{sha}.{fmt.lower()}", "format": fmt,
        "width": width, "height": height, "bytes": size, "status": "raw",
        "retrieved_at": _iso(at), "last_seen_at": _iso(at + timedelta(hours=len(sources) - 1)),
        "keywords": keywords, "run_ids": run_ids, "sources": sources, "outputs": {}, "quarantine": None,
    }
    roll = rng.random()
    if roll < 0.08:  # quarantined, at retrieval (no raw object) or at processing
        stage, reason = _pick(rng, REASONS)
        q_at = at if stage == "retrieve" else at + timedelta(minutes=rng.randrange(5, 600))
        doc.update(status="quarantined", quarantine={"reason": reason, "stage": stage, "at": _iso(q_at),
                                                     "key": f"quarantine/{sha[:2]}/{sha}.bin"})
        if stage == "retrieve":
            doc.update(raw_key=None, format="unknown", width=0, height=0)
        return doc
    if roll < 0.25:  # not processed yet
        return doc
    done = at + timedelta(minutes=rng.randrange(2, 600))  # often later that day, sometimes the next
    old = rng.random() < 0.1  # processed before features and timings were recorded
    if not old:
        labels = rng.sample(LABELS[: 8 + rng.randrange(17)], rng.randrange(0, 5))
        doc["features"] = {
            "exif": {"camera": rng.choice(["Canon EOS 5D", "NIKON D750", "iPhone 13"])} if rng.random() < 0.5 else {},
            "phash": f"{rng.getrandbits(64):016x}",
            "dominant_colors": [f"#{rng.getrandbits(24):06x}" for _ in range(3)],
            "brightness": round(rng.uniform(20, 235), 2),
            "contrast": round(rng.uniform(10, 90), 2),
            "blur": round(rng.lognormvariate(5, 1.2), 2),
            "faces": rng.choice([0, 0, 0, 1, 2]),
            "labels": [{"name": name, "score": round(rng.uniform(0.3, 0.99), 3)} for name in labels],
            "label_source": "efficientnet-lite0" if labels else "none",
            "seconds": round(rng.uniform(0.02, 0.4), 4),
        }
        doc["duplicate_of"] = rng.choice(earlier) if earlier and rng.random() < 0.06 else None
    for recipe, (fmt_out, ops) in RECIPES.items():
        if recipe != "half_gray" and (old or rng.random() < 0.2):
            continue
        megapixels = width * height / 1e6
        timings = {op: round(rng.uniform(0.002, 0.03) * megapixels ** 0.5 + 0.001, 5) for op in ops}
        scale = min(1.0, 1920 / max(width, height)) if recipe == "web" else 0.5 if recipe == "half_gray" \
            else 320 / max(width, height)
        output = {"key": f"processed/{recipe}/{sha[:2]}/{sha}.{fmt_out.lower()}", "version": 1, "format": fmt_out,
                  "width": max(1, int(width * scale)), "height": max(1, int(height * scale)),
                  "bytes": max(500, int(size * scale * scale * rng.uniform(0.2, 0.5))), "quality": 85,
                  "seconds": round(sum(timings.values()), 5),
                  "processed_at": _iso(done + timedelta(seconds=rng.randrange(60)))}
        if not old:
            output["timings"] = timings
        doc["outputs"][recipe] = output
    doc["status"] = "processed"
    return doc


def gallery_docs(days: Iterable[date], per_day: int, seed: int = 5) -> Iterator[dict[str, Any]]:
    """About ``per_day`` documents retrieved on each day (UTC), at random times of the day."""
    rng = random.Random(seed)
    earlier: list[str] = []
    for day in days:
        start = datetime.combine(day, time.min, tzinfo=timezone.utc)
        count = max(1, int(per_day * rng.uniform(0.7, 1.3)))
        for index in range(count):
            at = start + timedelta(seconds=rng.randrange(86400), microseconds=rng.randrange(10**6))
            doc = image_doc(rng, at, index, earlier)
            if len(earlier) < 500:
                earlier.append(doc["sha256"])
            yield doc


def insert_docs(catalog: Catalog, docs: Iterable[dict[str, Any]], batch: int = 10_000) -> int:
    """Bulk-load whole documents (the catalog's write methods add one event at a time). On SQLite, as
    another writer of the file would (plain SQL), then the analytics facts derived, as the catalog's
    write methods would have filed them."""
    count, chunk = 0, []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) >= batch:
            count += _insert(catalog, chunk)
            chunk = []
    count += _insert(catalog, chunk) if chunk else 0
    if isinstance(catalog, SqliteCatalog):
        catalog.refresh_facts()
    return count


def _insert(catalog: Catalog, docs: list[dict[str, Any]]) -> int:
    if isinstance(catalog, SqliteCatalog):
        with catalog.conn:
            catalog.conn.execute("BEGIN")
            catalog.conn.executemany(
                "INSERT OR REPLACE INTO images (sha256, doc) VALUES (?, ?)",
                ((d["sha256"], json.dumps(d, sort_keys=True)) for d in docs))
    elif isinstance(catalog, MongoCatalog):
        for d in docs:
            catalog.images.replace_one({"_id": d["sha256"]}, {"_id": d["sha256"], **d}, upsert=True)
    else:
        raise TypeError(f"cannot bulk-load {type(catalog).__name__}")
    return len(docs)
