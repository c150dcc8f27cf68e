"""The self-contained report pages: tables, headline cards and the charts embedded as data URIs;
the day's page (:func:`daily_html`) and the frame the overview's page uses (:func:`page_html`)."""

from __future__ import annotations

import base64
import html
from typing import Any, Iterable


def table_html(headers: list[str], rows: Iterable[Iterable[Any]], metric: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = list(row)
        key = html.escape(str(cells[0]), quote=True)
        attrs = f' data-{metric}="{key}"' if metric else ""
        body.append(f"<tr{attrs}>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def image_html(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" data-chart="{name}" src="data:image/png;base64,{data}"></figure>'


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{background:#f4f6fa;border-radius:8px;padding:.8rem 1.2rem;min-width:8rem}
.card b{display:block;font-size:1.6rem} table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .7rem;text-align:right;white-space:nowrap} th:first-child,td:first-child{text-align:left}
figure{margin:1rem 0} img{max-width:100%} section{margin-bottom:2rem} .wide{overflow-x:auto;max-width:100%}
"""


def page_html(title: str, subtitle: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>{body}</body></html>\n").encode()


def cards_html(numbers: dict[str, Any]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b data-metric="{html.escape(k)}">{html.escape(_fmt(v))}</b>{html.escape(k.replace("_", " "))}</div>'
        for k, v in numbers.items()) + "</div>"


def daily_html(metrics: dict[str, Any], charts: dict[str, bytes]) -> bytes:
    """A self-contained page: headline numbers, breakdowns and the charts embedded as data URIs."""
    h = metrics["headline"]
    parts = [cards_html({k: v for k, v in h.items() if k != "day"})]
    parts.append("<section><h2>Sources and formats</h2>" + image_html("sources.png", charts["sources.png"], "sources"))
    for name, title in (("engine", "By source"), ("keyword", "By keyword"), ("format", "By format"),
                        ("domain", "By source domain")):
        rows = [(k, v["retrieved"], v["processed"], v["quarantined"], v["duplicated"]) for k, v in metrics["by"][name].items()]
        parts.append(f"<h3>{title}</h3>" + table_html([name, "retrieved", "processed", "quarantined", "duplicated"],
                                                   rows, metric=f"{name}"))
    parts.append("</section><section><h2>Sizes</h2>" + image_html("sizes.png", charts["sizes.png"], "size histograms"))
    dist = metrics["distributions"]
    parts.append(table_html(["measure", "count", "mean", "min", "p25", "p50", "p75", "p95", "max"],
                        [(k, *(v.get(s, "") for s in ("count", "mean", "min", "p25", "p50", "p75", "p95", "max")))
                         for k, v in dist.items()], metric="distribution"))
    parts.append("</section><section><h2>Processing</h2>" + image_html("processing.png", charts["processing.png"], "processing times"))
    rows = [(r, v["outputs"], v["bytes"], *(v["seconds"].get(s, "") for s in ("mean", "p50", "p90", "p95", "p99", "max")))
            for r, v in metrics["processing"].items()]
    parts.append(table_html(["recipe", "outputs", "bytes", "mean s", "p50 s", "p90 s", "p95 s", "p99 s", "max s"], rows,
                        metric="recipe"))
    rows = [(f"{r} / {op}", v["count"], *(v.get(s, "") for s in ("p50", "p90", "p95", "p99", "max")))
            for r, ops in metrics["operations"].items() for op, v in ops.items()]
    parts.append(table_html(["recipe / operation", "count", "p50 s", "p90 s", "p95 s", "p99 s", "max s"], rows))
    parts.append("</section><section><h2>Labels</h2>" + image_html("labels.png", charts["labels.png"], "top labels"))
    parts.append(table_html(["label a", "label b", "images"],
                        [(p["a"], p["b"], p["images"]) for p in metrics["labels"]["co_occurrence"]]))
    parts.append("</section><section><h2>Failures</h2>" + image_html("failures.png", charts["failures.png"], "failure reasons"))
    parts.append(table_html(["reason", "images"], metrics["failures"]["reasons"].items(), metric="reason"))
    parts.append("</section><section><h2>Creators, licences, domains</h2>")
    for name in ("domains", "creators", "licences"):
        parts.append(f"<h3>{name.capitalize()}</h3>" + table_html([name[:-1], "images"],
                                                              [(d["name"], d["images"]) for d in metrics[name]]))
    storage = metrics["storage"]
    rows = [("raw", storage["raw"]), ("quarantine", storage["quarantine"]),
            *((f"processed/{r}", b) for r, b in storage["processed"].items()), ("total", storage["total"])]
    parts.append("</section><section><h2>Storage added</h2>" + table_html(["zone", "bytes"], rows, metric="zone") + "</section>")
    since, until = metrics["interval"]
    return page_html(f"Gallery on {metrics['day']}", f"data interval {since} – {until} (UTC)", "".join(parts))
