"""Report outputs: self-contained HTML (charts as PNG data URIs), PDF, CSV files, JSON.

The PDF is drawn by matplotlib's ``PdfPages`` (a summary page, then the charts, then the key
tables), so producing it needs no browser and no system library.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from handlers.reports import format as fmt
from handlers.reports.i18n import Translate, translator
from handlers.reports.model import HEADLINE, Report, Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib (~15 MB and ~0.3 s to import) is imported where a chart or PDF is drawn, not
# when the server starts: most processes never draw one (bench/footprint.py, issue 32).

TEMPLATES = Path(__file__).resolve().parent / "templates"
CELL_CHARS = 48  # PDF table cells are cut here (the HTML and CSV keep everything)
CARDS = ("customers", "conversations", "deflection_rate", "tickets_opened",
         "frt_business_median", "resolution_business_median", "csat", "nps")


def _env() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


def headline_rows(report: Report, locale: str = "en") -> list[dict[str, str]]:
    h, p, tr = report.headline, report.previous_headline, translator(locale)
    return [{"key": k, "label": tr(label), "value": fmt.value(k, h.get(k), tr),
             "before": fmt.value(k, p.get(k), tr),
             "change": fmt.change(k, h.get(k), p.get(k), tr)}
            for k, (label, _) in HEADLINE.items()]


def _table_view(t: Table, tr: Translate) -> dict[str, Any]:
    rows = [[{"shown": fmt.cell(col, v, tr), "text": isinstance(v, str)}
             for col, v in zip(t.columns, row, strict=True)] for row in t.rows]
    return {"title": tr(t.title), "labels": [fmt.column_label(c, tr) for c in t.columns],
            "rows": rows}


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def html(report: Report, locale: str = "en", controls: str = "") -> str:
    """The report page in ``locale`` (en, sv, lv): texts, labels and chart titles.

    ``controls``: trusted HTML the admin page puts above the figures (downloads, period form).
    """
    from handlers.reports import charts

    rows, tr = headline_rows(report, locale), translator(locale)
    # alt text: the chart's own (translated) title
    charts_ = [(fig.axes[0].get_title() or name, data_uri(charts.png(fig)))
               for name, fig in charts.figures(report, tr)]
    return _env().get_template("report.html").render(
        locale=locale, t=tr, period=report.period.label(), previous=report.previous.label(),
        tz=report.period.tz.key, generated=report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        cards=[r for r in rows if r["key"] in CARDS], all=rows, charts=charts_,
        tables=[_table_view(t, tr) for t in report.tables],
        notes=[tr(n) for n in report.notes], controls=Markup(controls))


#: Every PDF page is A4 landscape (inches), so printing and viewing keep one page format.
A4_LANDSCAPE = (11.69, 8.27)
PDF_TABLES = ("by_channel", "by_agent", "top_kb", "gaps", "sla", "help_center")


def pdf(report: Report, path: Path, locale: str = "en") -> None:
    from matplotlib.backends.backend_pdf import PdfPages

    from handlers.reports import charts

    tr = translator(locale)
    with PdfPages(path) as pages:
        pages.savefig(_summary_page(report, locale))
        for _, fig in charts.figures(report, tr):
            fig.set_size_inches(*A4_LANDSCAPE)  # the chart's layout is relative: it scales
            pages.savefig(fig)
        for name in PDF_TABLES:
            try:
                pages.savefig(_table_page(report.table(name), tr))
            except KeyError:
                continue


def pdf_bytes(report: Report, locale: str = "en") -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "report.pdf"
        pdf(report, path, locale)
        return path.read_bytes()


def _summary_page(report: Report, locale: str) -> Figure:
    from matplotlib.figure import Figure

    tr = translator(locale)
    fig = Figure(figsize=A4_LANDSCAPE)
    fig.text(0.06, 0.95, tr("Customer service report"), fontsize=18, weight="bold")
    fig.text(0.06, 0.925, tr("{period} ({tz}), compared with {previous}").format(
        period=report.period.label(), tz=report.period.tz.key,
        previous=report.previous.label()), fontsize=9, color="#555")
    ax = fig.add_axes((0.06, 0.05, 0.88, 0.85))
    ax.axis("off")
    cells = [[r["label"], r["value"], r["before"], r["change"]]
             for r in headline_rows(report, locale)]
    table = ax.table(cellText=cells,
                     colLabels=[tr(c) for c in ("Metric", "This period", "Previous", "Change")],
                     loc="upper center", colWidths=[0.52, 0.16, 0.16, 0.16], cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    table.scale(1, 1.25)
    return fig


def _table_page(t: Table, tr: Translate) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=A4_LANDSCAPE)
    fig.text(0.04, 0.95, tr(t.title), fontsize=14, weight="bold")
    ax = fig.add_axes((0.04, 0.05, 0.92, 0.86))
    ax.axis("off")
    if not t.rows:
        ax.text(0, 0.9, tr("Nothing in this period."))
        return fig
    labels = [fmt.column_label(c, tr) for c in t.columns]
    cells = [[fmt.cell(c, v, tr)[:CELL_CHARS] for c, v in zip(t.columns, row, strict=True)]
             for row in t.rows[:30]]
    widths = [max(len(labels[i]), *(len(r[i]) for r in cells)) + 2 for i in range(len(labels))]
    table = ax.table(cellText=cells, colLabels=labels, loc="upper center", cellLoc="left",
                     colWidths=[w / sum(widths) for w in widths])
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    return fig


def write_csv(report: Report, directory: Path, locale: str = "en") -> list[Path]:
    """headline.csv plus one CSV per table; headings in ``locale``, values raw (seconds,
    percentages as numbers) so a spreadsheet can compute with them."""
    tr = translator(locale)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "headline.csv"]
    with written[0].open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([tr("Metric"), tr("This period"), tr("Previous period")])
        for key, (label, _) in HEADLINE.items():
            w.writerow([tr(label), _raw(report.headline.get(key)),
                        _raw(report.previous_headline.get(key))])
    for t in report.tables:
        path = directory / f"{t.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow([fmt.column_label(c, tr) for c in t.columns])
            w.writerows([[_raw(v) for v in row] for row in t.rows])
        written.append(path)
    return written


def _raw(v: Any) -> Any:
    return "" if v is None else v


def to_json(report: Report) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2)


def summary_text(report: Report, link: str, locale: str = "en") -> str:
    """The weekly Slack post: the headline cards and a link to the full report."""
    tr = translator(locale)
    title = tr("Customer service report {period}").format(period=report.period.label())
    lines = [f"*{title}*"]
    for r in headline_rows(report, locale):
        if r["key"] in CARDS:
            lines.append(f"• {r['label']}: *{r['value']}* "
                         f"({tr('before')} {r['before']}, {r['change']})")
    gaps = [row for row in _safe_rows(report, "gaps")][:3]
    if gaps:
        lines.append(tr("Top knowledge gaps:") + " "
                     + "; ".join(f"“{g[2]}” ({g[0]})" for g in gaps))
    lines.append(f"{tr('Full report:')} {link}")
    return "\n".join(lines)


def _safe_rows(report: Report, name: str) -> list[list[Any]]:
    try:
        return report.table(name).rows
    except KeyError:
        return []
