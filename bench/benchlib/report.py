"""The plain-text table and the ratio lines."""

from __future__ import annotations

from benchlib import MB


def _fmt_s(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _frac(found: int, total: int) -> str:
    return f"{found}/{total}" if total else "-"


def row_cells(r: dict) -> list[str]:
    if r["status"] == "n/a":
        return [r["label"], r["mode"], "0", "n/a (no git-history mode)", "", "", "", "", "", "", "", "", ""]
    if r["status"] != "ok":
        wall = f"{r['status']}" + (f" >{r['timeout_s']:.0f} s" if r["status"] == "timeout" else "")
        mbps = f"<{r['corpus_bytes'] / MB / r['timeout_s']:.2f}" if r["status"] == "timeout" else ""
        return [r["label"], r["mode"], str(r["runs_done"]), wall, mbps, "", "", "", "", "", "", "", ""]
    w = r["wall_s"]
    wall = f"{_fmt_s(w['median'])} ({_fmt_s(w['min'])}-{_fmt_s(w['max'])})"
    rss = f"{r['max_rss_mb']:.0f}"
    tree = f"{r['tree_rss_mb']:.0f}/{r['tree_pss_mb']:.0f}"
    s = r.get("score")
    if s:
        pairs = _frac(s["all"]["pairs_found"], s["all"]["total"])
        ids = _frac(s["all"]["ids_found"], s["all"]["total"])
        if "deleted_from_head" in s:
            d = s["deleted_from_head"]
            pairs += f" (del {_frac(d['pairs_found'], d['total'])})"
            ids += f" (del {_frac(d['ids_found'], d['total'])})"
        decoys = f"{s['decoys_reported']} ({s['decoys_hit']}+{s['unplanted_key_ids']})"
        other = str(s["other_findings"])
    else:
        pairs = ids = decoys = other = "-"
    return [
        r["label"],
        r["mode"],
        str(r["runs_done"]),
        wall,
        f"{r['mb_per_s']:.1f}",
        f"{r['cpu_s']:.1f}",
        f"{r['background_cores']:.2f}",
        rss,
        tree,
        pairs,
        ids,
        decoys,
        other,
    ]


HEADER = [
    "tool",
    "mode",
    "n",
    "wall s median (min-max)",
    "MB/s",
    "cpu s",
    "bg",
    "maxRSS MB",
    "tree RSS/PSS MB",
    "pair recall",
    "ID recall",
    "decoys (loc+IDs)",
    "other",
]


def table(rows: list[dict], ks_column: list[str]) -> str:
    cells = [[*HEADER, "fastest keysentry is"]] + [
        [*row_cells(r), k] for r, k in zip(rows, ks_column, strict=True)
    ]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cells[0]))]
    numeric = {2, 4, 5, 6, 7, 8}
    lines = []
    for n, c in enumerate(cells):
        parts = [
            c[i].rjust(widths[i]) if i in numeric and n else c[i].ljust(widths[i]) for i in range(len(c))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(ks: dict, other: dict) -> float | None:
    if ks["status"] != "ok" or other["status"] not in ("ok", "timeout"):
        return None
    theirs = other["wall_s"]["median"] if other["status"] == "ok" else other["timeout_s"]
    return theirs / ks["wall_s"]["median"]


def ks_column(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Per row: how many times faster the fastest keysentry variant of that mode is; plus one line
    per keysentry variant comparing it with every other row of its mode."""
    column, lines = [], []
    for r in rows:
        ks = [k for k in rows if k["tool"] == "keysentry" and k["mode"] == r["mode"] and k["status"] == "ok"]
        best = min(ks, key=lambda k: k["wall_s"]["median"]) if ks else None
        x = ratio(best, r) if best and r is not best and r["tool"] != "keysentry" else None
        if x is None:
            column.append("")
        else:
            column.append(
                ("≥" if r["status"] == "timeout" else "") + f"{x:.2f}x ({best['label'].split()[-1]})"
            )
    for k in rows:
        if k["tool"] != "keysentry" or k["status"] != "ok":
            continue
        parts = []
        for r in rows:
            if r is k or r["mode"] != k["mode"]:
                continue
            x = ratio(k, r)
            if x is not None:
                name = r["label"]
                parts.append(("≥" if r["status"] == "timeout" else "") + f"{x:.2f}x {name}")
        if parts:
            lines.append(f"{k['label']} ({k['mode']}) is " + ", ".join(parts))
    return column, lines
