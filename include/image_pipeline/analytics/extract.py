"""Reading a day of the catalog: the documents touched in the day's window (UTC), flattened by
DuckDB into two Arrow tables.

- image rows: one per image retrieved, processed or quarantined that day (flags say which), with
  its sources, keywords, labels and features;
- output rows: one per recipe output processed that day, with its per-operation ``timings``.

``arrow_schemas`` is also the schema of the Parquet partitions (:mod:`.parquet`).

Heavy libraries (duckdb, pyarrow, numpy) are imported inside the
functions: DAG files import this package.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable

from image_pipeline.core.catalog import facts
from image_pipeline.core.catalog.roles import DayReading

CHUNK = 10_000  # documents parsed at a time: memory stays flat in the size of the day


def day_window(day: date) -> tuple[str, str]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start.isoformat(timespec="microseconds"), (start + timedelta(days=1)).isoformat(timespec="microseconds")


# -- reading a day of the catalog ------------------------------------------------------------------

def arrow_schemas():
    import pyarrow as pa

    strings = pa.list_(pa.string())
    images = pa.schema([
        ("sha256", pa.string()), ("format", pa.string()), ("status", pa.string()),
        ("width", pa.int64()), ("height", pa.int64()), ("bytes", pa.int64()),
        ("megapixels", pa.float64()), ("aspect_ratio", pa.float64()),
        ("retrieved_at", pa.timestamp("us", tz="UTC")),
        ("retrieved", pa.bool_()), ("processed", pa.bool_()), ("quarantined", pa.bool_()),
        ("duplicated", pa.bool_()), ("duplicate_of", pa.string()), ("n_sources", pa.int64()),
        ("has_raw", pa.bool_()), ("keywords", strings), ("engines", strings), ("domains", strings),
        ("licences", strings), ("creators", strings),
        ("quarantine_reason", pa.string()), ("quarantine_stage", pa.string()), ("quarantine_bytes", pa.int64()),
        ("labels", strings), ("label_source", pa.string()), ("brightness", pa.float64()),
        ("contrast", pa.float64()), ("blur", pa.float64()), ("faces", pa.int64()), ("camera", pa.string()),
    ])
    outputs = pa.schema([
        ("sha256", pa.string()), ("recipe", pa.string()), ("version", pa.int64()), ("format", pa.string()),
        ("width", pa.int64()), ("height", pa.int64()), ("bytes", pa.int64()), ("seconds", pa.float64()),
        ("processed_at", pa.timestamp("us", tz="UTC")), ("timings", pa.map_(pa.string(), pa.float64())),
    ])
    return images, outputs


# The catalog documents' fields analytics reads, as DuckDB parses them (json_transform is lenient:
# a missing field or one of another type becomes NULL, so old documents read as well as new ones).
DOC_STRUCTURE = json.dumps({
    "sha256": "VARCHAR", "format": "VARCHAR", "status": "VARCHAR", "width": "BIGINT", "height": "BIGINT",
    "bytes": "BIGINT", "retrieved_at": "VARCHAR", "raw_key": "VARCHAR", "keywords": ["VARCHAR"],
    "sources": [{"source": "VARCHAR", "uri": "VARCHAR", "page_url": "VARCHAR", "licence": "VARCHAR",
                 "creator": "VARCHAR", "owner_name": "VARCHAR", "author": "VARCHAR"}],
    "quarantine": {"reason": "VARCHAR", "stage": "VARCHAR", "key": "VARCHAR", "at": "VARCHAR"},
    "duplicate_of": "VARCHAR",
    "features": {"brightness": "DOUBLE", "contrast": "DOUBLE", "blur": "DOUBLE", "faces": "BIGINT",
                 "label_source": "VARCHAR", "labels": [{"name": "VARCHAR"}], "exif": {"camera": "VARCHAR"}},
    "outputs": "MAP(VARCHAR, STRUCT(version BIGINT, format VARCHAR, width BIGINT, height BIGINT, bytes BIGINT, "
               "seconds DOUBLE, processed_at VARCHAR, timings MAP(VARCHAR, DOUBLE)))",
})
PARSE_SQL = f"CREATE OR REPLACE TEMP TABLE parsed AS SELECT json_transform(doc, '{DOC_STRUCTURE}') AS d FROM chunk"
_HOST = facts.HOST
# A source's creator when it names none: the owner its page URL names (a Flickr photo page, as the
# Flickr engine records it: https://www.flickr.com/photos/<owner>/<id>). An RE2 pattern (DuckDB's and
# Arrow's regular expressions), searched anywhere in the URL; its first group is the creator.
FLICKR_OWNER = r"flickr[.]com/photos/(?P<owner>[^/?#]+)"
_CLEAN = "list_sort(list_distinct(list_filter({}, lambda x: x IS NOT NULL AND x <> '')))"

IMAGES_SQL = f"""
WITH flat AS (
    SELECT d.*,
           list_filter(map_entries(d.outputs), lambda e: list_contains($recipes, e.key)
                       AND e.value.processed_at >= $since AND e.value.processed_at < $until) AS done
    FROM parsed)
SELECT sha256, format, status, coalesce(width, 0) AS width, coalesce(height, 0) AS height,
       coalesce(bytes, 0) AS bytes,
       CASE WHEN width > 0 AND height > 0 THEN width * height / 1e6 END AS megapixels,
       CASE WHEN width > 0 AND height > 0 THEN width / height END AS aspect_ratio,
       TRY_CAST(retrieved_at AS TIMESTAMPTZ) AS retrieved_at,
       coalesce(retrieved_at >= $since AND retrieved_at < $until, false) AS retrieved,
       coalesce(len(done) > 0, false) AS processed,  -- false, not NULL, when a document has no outputs map
       coalesce(quarantine.at >= $since AND quarantine.at < $until, false) AS quarantined,
       coalesce(len(sources) > 1, false) OR coalesce(duplicate_of <> '', false) AS duplicated,
       nullif(duplicate_of, '') AS duplicate_of, coalesce(len(sources), 0) AS n_sources,
       coalesce(raw_key <> '', false) AS has_raw,
       {_CLEAN.format("keywords")} AS keywords,
       {_CLEAN.format("list_transform(sources, lambda s: s.source)")} AS engines,
       {_CLEAN.format(f"list_transform(sources, lambda s: regexp_replace(lower(coalesce(nullif(regexp_extract(s.uri, '{_HOST}', 1), ''), regexp_extract(s.page_url, '{_HOST}', 1))), '^www[.]', ''))")} AS domains,
       {_CLEAN.format("list_transform(sources, lambda s: s.licence)")} AS licences,
       {_CLEAN.format(f"list_transform(sources, lambda s: coalesce(nullif(s.creator, ''), nullif(s.owner_name, ''), nullif(s.author, ''), regexp_extract(s.page_url, '{FLICKR_OWNER}', 1)))")} AS creators,
       quarantine.reason AS quarantine_reason, quarantine.stage AS quarantine_stage,
       CASE WHEN quarantine.at >= $since AND quarantine.at < $until AND quarantine.key <> ''
            THEN coalesce(bytes, 0) ELSE 0 END AS quarantine_bytes,
       {_CLEAN.format("list_transform(features.labels, lambda l: l.name)")} AS labels,
       features.label_source AS label_source, features.brightness AS brightness,
       features.contrast AS contrast, features.blur AS blur, features.faces AS faces,
       features.exif.camera AS camera
FROM flat
WHERE (retrieved_at >= $since AND retrieved_at < $until) OR len(done) > 0
   OR (quarantine.at >= $since AND quarantine.at < $until)
"""

OUTPUTS_SQL = """
WITH entries AS (SELECT d.sha256 AS sha256, unnest(map_entries(d.outputs)) AS e FROM parsed)
SELECT sha256, e.key AS recipe, e.value.version AS version, e.value.format AS format, e.value.width AS width,
       e.value.height AS height, e.value.bytes AS bytes, e.value.seconds AS seconds,
       TRY_CAST(e.value.processed_at AS TIMESTAMPTZ) AS processed_at,
       coalesce(e.value.timings, MAP {}::MAP(VARCHAR, DOUBLE)) AS timings
FROM entries
WHERE list_contains($recipes, e.key) AND e.value.processed_at >= $since AND e.value.processed_at < $until
ORDER BY sha256, recipe
"""


def flatten(docs: Iterable[str], since: str, until: str, recipes: Iterable[str]):
    """Two Arrow tables for the window from catalog documents as JSON text: image rows and output
    rows (see the module docstring), in the order of ``docs``. Documents touched outside the window
    are left out.

    DuckDB parses the documents ``CHUNK`` at a time (vectorised, in C++: a million documents would
    take minutes as Python dicts), so memory stays flat in the size of the day. A chunk is far
    smaller than one of DuckDB's row groups, so a query over it runs on one core: the chunks are
    spread over a thread per core instead (DuckDB releases the GIL), while this thread reads the
    next ones from the catalog.
    """
    import queue
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import pyarrow as pa

    image_schema, output_schema = arrow_schemas()
    params = {"since": since, "until": until, "recipes": sorted(recipes)}
    image_parts, output_parts = [image_schema.empty_table()], [output_schema.empty_table()]
    workers = _cores()
    con = duckdb.connect(config={"threads": 1, "memory_limit": f"{256 * workers}MB"})
    con.execute("SET TimeZone = 'UTC'")
    cursors: queue.SimpleQueue = queue.SimpleQueue()  # a connection per thread: "chunk" and "parsed" are its own
    for _ in range(workers):
        cursors.put(con.cursor())

    def flatten_chunk(docs_array):
        cursor = cursors.get()
        try:
            cursor.register("chunk", pa.table({"doc": docs_array}))
            try:
                cursor.execute(PARSE_SQL)  # each document parsed once, for both tables
            except duckdb.InvalidInputException:  # a text DuckDB's JSON parser refuses: mended, parsed again
                cursor.unregister("chunk")
                cursor.register("chunk", pa.table({"doc": _mended(docs_array)}))
                cursor.execute(PARSE_SQL)
            images = cursor.sql(IMAGES_SQL, params=params).to_arrow_table()
            outputs = cursor.sql(OUTPUTS_SQL, params=params).to_arrow_table()
            cursor.unregister("chunk")
            return images.cast(image_schema).combine_chunks(), outputs.cast(output_schema).combine_chunks()
        finally:
            cursors.put(cursor)

    def collect(future) -> None:
        images, outputs = future.result()
        image_parts.append(images)
        output_parts.append(outputs)

    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="analytics-flatten") as pool:
            pending: deque = deque()
            iterator = iter(docs)
            while chunk := list(itertools.islice(iterator, CHUNK)):
                pending.append(pool.submit(flatten_chunk, _text_array(chunk)))
                del chunk
                while len(pending) > workers:  # at most one chunk waiting per thread: memory stays flat
                    collect(pending.popleft())
            while pending:
                collect(pending.popleft())
    finally:
        while not cursors.empty():
            cursors.get().close()
        con.close()
    # In the catalog's order (both backends give documents by sha256): no sort here, which would
    # copy the whole day again.
    return pa.concat_tables(image_parts), pa.concat_tables(output_parts)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain(value):
    """A parsed document with its lone UTF-16 surrogates (paired ones are one character once parsed)
    replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _mended(docs_array):
    """The documents as DuckDB's JSON parser reads them. Python's json module writes and reads a lone
    surrogate escape (``\\ud800``), which DuckDB refuses, failing the whole chunk."""
    texts = []
    for text in docs_array.to_pylist():
        try:
            texts.append(json.dumps(_plain(json.loads(text)), ensure_ascii=False))
        except json.JSONDecodeError:  # not JSON at all: a document without fields, never in the day
            texts.append("null")
    return _text_array(texts)


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _text_array(texts: list[str | bytes]):
    """An Arrow string array of JSON texts, built from one joined buffer: converting a list of Python
    strings item by item costs as much as parsing them."""
    import numpy as np
    import pyarrow as pa

    blobs = [t if isinstance(t, bytes) else t.encode() for t in texts]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)), out=offsets[1:])
    array = pa.LargeStringArray.from_buffers(len(blobs), pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs)))
    array.validate(full=True)  # UTF-8
    return array


# -- reading a day of the catalog's facts (:mod:`image_pipeline.core.catalog.facts`) --------------------

def _read_lines(blobs: list[bytes], fields: dict[str, str]):
    """A table of facts lines (see the facts module): Arrow's CSV reader, on all cores."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as csv

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(),
             "list": pa.string()}
    table = csv.read_csv(
        pa.py_buffer(b"\n".join(blobs)),
        read_options=csv.ReadOptions(column_names=list(fields), block_size=max(1 << 22, 1 + max(map(len, blobs)))),
        parse_options=csv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        convert_options=csv.ConvertOptions(column_types={n: types[t] for n, t in fields.items()},
                                           null_values=[facts.NULL], strings_can_be_null=True,
                                           true_values=["1"], false_values=["0"]))
    for name, kind in fields.items():
        if kind == "list":  # each item follows a separator: drop what comes before the first
            items = pc.list_slice(pc.split_pattern(table.column(name), facts.ITEM), 1)
            if name == "creators":
                items = _creators(items)
            table = table.set_column(table.schema.get_field_index(name), name, items)
    return table


def _creators(lists):
    """The facts' creators lists as the JSON reader makes them: an item that is a page URL (after
    ``facts.PAGE_URL``) is the creator it names (``FLICKR_OWNER``) or none; then, as every list, no
    empty item, distinct, sorted (by UTF-8 bytes, as DuckDB sorts)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
    items = pc.list_flatten(lists)
    pages = pc.fill_null(pc.starts_with(items, facts.PAGE_URL), False)
    if not pc.any(pages).as_py():
        return lists  # the catalog cleaned them already
    named = pc.struct_field(pc.extract_regex(items, FLICKR_OWNER), [0])
    pairs = pa.table({"row": pc.list_parent_indices(lists), "creator": pc.if_else(pages, named, items)})
    pairs = pairs.filter(pc.fill_null(pc.not_equal(pairs.column("creator"), ""), False))
    pairs = pairs.group_by(["row", "creator"]).aggregate([]).sort_by([("row", "ascending"), ("creator", "ascending")])
    counts = np.bincount(pairs.column("row").to_numpy(), minlength=len(lists))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int32())
    return pa.ListArray.from_arrays(offsets, pairs.column("creator").combine_chunks(), mask=lists.is_null())


def _in_window(column, since: str, until: str):
    import pyarrow.compute as pc

    return pc.fill_null(pc.and_(pc.greater_equal(column, since), pc.less(column, until)), False)


def _facts_tables(images_blobs: list[bytes], outputs_blobs: list[bytes], since: str, until: str,
                  recipes: list[str]):
    """The image and output tables (as :func:`flatten` makes them) of a batch of facts lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    image_schema, output_schema = arrow_schemas()
    out = _read_lines(outputs_blobs, facts.OUTPUT_FIELDS) if outputs_blobs else None
    if out is not None:
        out = out.filter(pc.and_(pc.is_in(out.column("recipe"), pa.array(recipes, pa.string())),
                                 _in_window(out.column("processed_at_text"), since, until)))
        pairs = out.column("timings").combine_chunks()
        flat = pc.split_pattern(pc.list_flatten(pairs), facts.KEY_VALUE, max_splits=1)
        offsets = pc.subtract(pairs.offsets, pairs.offsets[0])  # list_flatten starts at the first offset
        timings = pa.MapArray.from_arrays(offsets, pc.list_element(flat, 0),
                                          pc.list_element(flat, 1).cast(pa.float64()))
        out = pa.table({
            **{name: out.column(name) for name in ("sha256", "recipe", "version", "format", "width", "height",
                                                   "bytes", "seconds")},
            "processed_at": out.column("processed_at_us").cast(pa.timestamp("us", tz="UTC")),
            "timings": timings}).cast(output_schema)
    else:
        out = output_schema.empty_table()
    img = _read_lines(images_blobs, facts.IMAGE_FIELDS)
    width, height = img.column("width"), img.column("height")
    sized = pc.and_(pc.greater(width, 0), pc.greater(height, 0))
    null = pa.scalar(None, pa.float64())
    retrieved = _in_window(img.column("retrieved_at_text"), since, until)
    processed = pc.is_in(img.column("sha256"), out.column("sha256"))
    quarantined = _in_window(img.column("quarantine_at"), since, until)
    columns = {name: img.column(name) for name in img.column_names}
    columns.update(
        megapixels=pc.if_else(sized, pc.divide(pc.multiply(width, height).cast(pa.float64()), 1e6), null),
        aspect_ratio=pc.if_else(sized, pc.divide(width.cast(pa.float64()), height.cast(pa.float64())), null),
        retrieved_at=img.column("retrieved_at_us").cast(pa.timestamp("us", tz="UTC")),
        retrieved=retrieved, processed=processed, quarantined=quarantined,
        quarantine_bytes=pc.if_else(pc.and_(quarantined, img.column("quarantine_has_key")), img.column("bytes"), 0))
    images = pa.table({name: columns[name] for name in image_schema.names}).cast(image_schema)
    images = images.filter(pc.or_(pc.or_(retrieved, processed), quarantined))
    return images.combine_chunks(), out.combine_chunks()


def read_facts(lines, documents, since: str, until: str, recipes: list[str]):
    """The day's tables from a catalog's facts (``DayReading.day_facts``): the lines' batches parsed on a
    thread each (Arrow releases the GIL) while this thread reads the next; the documents without
    lines through :func:`flatten`; in sha256 order, as :func:`flatten` gives them."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    image_schema, output_schema = arrow_schemas()
    image_parts, output_parts = [image_schema.empty_table()], [output_schema.empty_table()]
    workers = _cores()

    def collect(future) -> None:
        images, outputs = future.result()
        image_parts.append(images)
        output_parts.append(outputs)

    with ThreadPoolExecutor(workers, thread_name_prefix="analytics-facts") as pool:
        pending: deque = deque()
        for images_blobs, outputs_blobs in lines:
            pending.append(pool.submit(_facts_tables, images_blobs, outputs_blobs, since, until, recipes))
            while len(pending) > workers:  # memory stays flat in the size of the day
                collect(pending.popleft())
        while pending:
            collect(pending.popleft())
    images, outputs = pa.concat_tables(image_parts), pa.concat_tables(output_parts)
    first = next(documents, None)
    if first is None:
        return images, outputs
    others_images, others_outputs = flatten(itertools.chain([first], documents), since, until, recipes)
    if others_images.num_rows or others_outputs.num_rows:
        images = pa.concat_tables([images, others_images]).sort_by("sha256")
        outputs = pa.concat_tables([outputs, others_outputs]).sort_by([("sha256", "ascending"),
                                                                       ("recipe", "ascending")])
    return images, outputs


def read_day(catalog: DayReading, day: date, recipes: Iterable[str] | None = None):
    """The day's image and output tables, from the catalog's facts where it keeps them, otherwise
    from its documents, streamed."""
    since, until = day_window(day)
    recipes = sorted(recipes or ())  # the caller names the recipes it counts: analytics knows none
    kept = catalog.day_facts(day.isoformat(), since)
    if kept is not None:
        return read_facts(*kept, since, until, recipes)
    return read_documents(catalog, day, recipes)


def read_documents(catalog: DayReading, day: date, recipes: Iterable[str] | None = None):
    """The day's image and output tables from the catalog's documents, parsed by DuckDB in chunks
    (what :func:`read_day` does for a catalog that keeps no facts)."""
    since, until = day_window(day)
    recipes = sorted(recipes or ())
    return flatten(catalog.touched_json(since, until, recipes, batch_size=CHUNK), since, until, recipes)
