"""One self-contained report page (HTML, every image embedded, no request to any other host) and the same tables as
Markdown for ``git diff`` and pull requests.

The page's one script only counts, once the page has loaded, the images that did and did not decode, into the
``data-images-loaded`` and ``data-images-broken`` attributes of ``<body>`` (a check a browser test can read).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wssam.evaluate.metrics import METRIC_NAMES
from wssam.report.published import PUBLISHED_METRICS

LOAD_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((image) => !image.complete || image.naturalWidth === 0).length;
  document.body.dataset.imagesLoaded = String(images.length - broken);
  document.body.dataset.imagesBroken = String(broken);
});
</script>"""
STYLE = """<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.published td { color: #666; font-style: italic; }
img { max-width: 100%; margin: 0.3em 0; }
pre { background: #f4f4f4; padding: 1em; overflow-x: auto; }
</style>"""


@dataclass
class ReportContent:
    """What the page and the summary show.

    ``tables``: title -> (column names, rows), each row a sequence of cells (str or float); a row whose first cell
    starts with ``"published "`` is styled as the paper's figures. ``images``: title -> PNG path. ``params``: the
    run's parameters as YAML text.
    """

    title: str
    params: str
    tables: dict[str, tuple[list[str], list[list[Any]]]] = field(default_factory=dict)
    images: dict[str, Path] = field(default_factory=dict)


def format_cell(value: Any) -> str:
    """A table cell for people: floats with 4 significant decimals, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def metrics_rows(name: str, values: Mapping[str, float], published: Mapping[str, float] | None) -> list[list[Any]]:
    """One test set's row of the toolbox metrics, and the paper's row below it when it has one."""
    rows = [[name, *(values.get(metric) for metric in METRIC_NAMES)]]
    if published is not None:
        rows.append([f"published WS-SAM, {name}", *(published.get(m) if m in PUBLISHED_METRICS else None
                                                    for m in METRIC_NAMES)])  # fmt: skip
    return rows


def _embedded(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        style = ' class="published"' if str(row[0]).startswith("published ") else ""
        cells = "".join(f"<td>{html.escape(format_cell(cell))}</td>" for cell in row)
        body.append(f"<tr{style}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(content: ReportContent) -> str:
    """The whole page as one string."""
    parts = [f"<h1>{html.escape(content.title)}</h1>"]
    for title, (columns, rows) in content.tables.items():
        parts.append(f"<h2>{html.escape(title)}</h2>{_html_table(columns, rows)}")
    for title, path in content.images.items():
        parts.append(f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="{_embedded(path)}">')
    parts.append(f"<h2>Parameters</h2><pre>{html.escape(content.params)}</pre>")
    head = f'<meta charset="utf-8"><title>{html.escape(content.title)}</title>{STYLE}'
    return f"<!DOCTYPE html>\n<html><head>{head}</head><body>{''.join(parts)}{LOAD_CHECK}</body></html>\n"


def render_markdown(content: ReportContent) -> str:
    """The tables as Markdown (images are left to the page)."""
    lines = [f"# {content.title}", ""]
    for title, (columns, rows) in content.tables.items():
        lines += [f"## {title}", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(format_cell(cell) for cell in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)
