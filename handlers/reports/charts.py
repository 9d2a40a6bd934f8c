"""Report charts drawn with matplotlib's Agg backend (no display, no browser): PNG bytes.

Each function returns a ``Figure`` so the same drawing goes into the HTML (as a PNG data URI)
and the PDF (a page of ``PdfPages``). Figures are created with ``Figure()`` directly, not
pyplot, so nothing global is touched and concurrent reports in threads are safe.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handlers.reports.i18n import Translate, english
from handlers.reports.model import Report, Value

SIZE = (7.5, 3.2)
NO_DATA = "Nothing in this period"


def _num(v: Value) -> float:
    return float(v) if isinstance(v, int | float) else 0.0


def _whole_numbers(ax: Axes, *, horizontal: bool = False) -> None:
    """A count axis ticks at whole numbers only."""
    (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))



def _note_if_empty(
    ax: Axes, values: list[float], tr: Translate, *, horizontal: bool = False
) -> None:
    """An empty period (a new install, a quiet week) gets a note instead of matplotlib's
    -0.04 … 0.04 axis around nothing."""
    if any(v > 0 for v in values):
        return
    if horizontal:
        ax.set_xlim(0, 1)
        ax.set_xticks([])
    else:
        ax.set_ylim(0, 1)
        ax.set_yticks([])
    ax.text(0.5, 0.5, tr(NO_DATA), transform=ax.transAxes, ha="center", va="center",
            color="#6b7280")


def daily_volume(report: Report, tr: Translate = english) -> Figure:
    t = report.table("daily").rows
    days = [str(r[0])[5:] for r in t]
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    ax.bar(days, [_num(r[1]) for r in t], color="#4c78a8", label=tr("conversation-days"))
    ax.bar(days, [_num(r[3]) for r in t], color="#54a24b", label=tr("resolved by the bot"))
    ax.plot(days, [_num(r[4]) for r in t], color="#e45756", marker="o",
            label=tr("tickets opened"))
    _whole_numbers(ax)
    _note_if_empty(ax, [_num(r[i]) for r in t for i in (1, 3, 4)], tr)
    ax.set_title(tr("Contacts per day"))
    ax.legend(loc="upper left", fontsize=8)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    fig.tight_layout()
    return fig


def by_channel(report: Report, tr: Translate = english) -> Figure:
    rows = report.table("by_channel").rows
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    names = [str(r[0]) for r in rows]
    ax.barh(names, [_num(r[4]) for r in rows], color="#4c78a8", label=tr("conversation-days"))
    ax.barh(names, [_num(r[5]) for r in rows], color="#54a24b", label=tr("resolved by the bot"))
    _whole_numbers(ax, horizontal=True)
    _note_if_empty(ax, [_num(r[4]) for r in rows], tr, horizontal=True)
    ax.set_title(tr("Where customers wrote (by channel)"))
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def response_times(report: Report, tr: Translate = english) -> Figure:
    h, p = report.headline, report.previous_headline
    keys = ["frt_business_median", "frt_business_p90", "resolution_business_median",
            "resolution_business_p90"]
    labels = [tr(text) for text in ("first resp.\nmedian", "first resp.\np90",
                                    "resolution\nmedian", "resolution\np90")]
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    xs = range(len(keys))
    ax.bar([x - 0.2 for x in xs], [_num(p[k]) / 3600 for k in keys], 0.4, color="#bab0ac",
           label=tr("previous period"))
    ax.bar([x + 0.2 for x in xs], [_num(h[k]) / 3600 for k in keys], 0.4, color="#f58518",
           label=tr("this period"))
    ax.set_xticks(list(xs), labels, fontsize=8)
    _note_if_empty(ax, [_num(v[k]) for v in (h, p) for k in keys], tr)
    ax.set_ylabel(tr("business hours"))
    ax.set_title(tr("How fast we answered and solved"))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reasons(report: Report, tr: Translate = english) -> Figure:
    rows = report.table("reasons").rows[:8]
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    ax.barh([str(r[0]) for r in rows][::-1], [_num(r[1]) for r in rows][::-1],
            color="#72b7b2")
    _whole_numbers(ax, horizontal=True)
    _note_if_empty(ax, [_num(r[1]) for r in rows], tr, horizontal=True)
    ax.set_title(tr("What customers needed a person for"))
    fig.tight_layout()
    return fig


CHARTS = (("daily", daily_volume), ("channels", by_channel), ("times", response_times),
          ("reasons", reasons))


def figures(report: Report, tr: Translate = english) -> list[tuple[str, Figure]]:
    return [(name, draw(report, tr)) for name, draw in CHARTS]


def png(fig: Figure, dpi: int = 100) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
