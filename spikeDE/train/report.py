"""Tables and files of a run's results: aligned text tables, JSON and CSV."""
from __future__ import annotations

import csv
import io
import json
import math
import os

__all__ = ["format_table", "write_rows", "fmt"]


def fmt(v, digits: int = 4) -> str:
    """A table cell: ``-`` for missing values, ``g``-format for numbers."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Rows (dicts) as an aligned text table; ``columns`` is ``[(key, header), ...]``."""
    cells = [[h for _, h in columns]] + [[r[k] if isinstance(r.get(k), str) else fmt(r.get(k)) for k, _ in columns]
                                         for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(columns))]
    lines = []
    for n, c in enumerate(cells):
        lines.append("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(c, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_rows(rows: list[dict], json_path: str, csv_path: str, extra: dict | None = None, key: str = "rows") -> None:
    """``rows`` to ``json_path`` (as ``{key: rows, **extra}``) and to ``csv_path`` (scalar columns only); each
    file is written to a temporary name and renamed."""
    _atomic(json_path, json.dumps({key: rows, **(extra or {})}, indent=2, default=float) + "\n")
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys and not isinstance(r[k], (dict, list))]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    _atomic(csv_path, buf.getvalue())
