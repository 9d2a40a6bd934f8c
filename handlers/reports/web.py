"""/admin/reports (HTML, PDF, CSV zip) and /api/v1/reports (JSON), admin role.

The admin page is the self-contained HTML report itself (charts are data URIs, styles inline),
so it is served with its own strict Content-Security-Policy: no scripts at all, inline styles,
images only from data: URIs. Rendering (matplotlib) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory

from aiohttp import web

from bot import heap
from bot.api.base import ApiError, ApiRoute, Param, allow, register
from bot.core import Core
from bot.keys import CORE
from bot.web.admin.render import nav_html
from handlers.reports import render, schedule
from handlers.reports.model import Report
from handlers.reports.period import Period
from handlers.reports.service import make_report, period_for, report_locale

PAGE_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
PERIOD_PARAMS = (
    Param("since", description="first local day, YYYY-MM-DD (default: 7 days before until)"),
    Param("until", description="last local day, inclusive (default: today)"),
)
#: Report languages, and their names in the picker of the admin page.
LANGUAGES = {"en": "English", "sv": "Svenska", "lv": "Latviešu"}


def _locale(request: web.Request) -> str:
    """``?lang=`` when it names a report language, else CRMBOT_REPORT_LOCALE's."""
    wanted = request.query.get("lang", "")
    return wanted if wanted in LANGUAGES else report_locale(request.app[CORE].settings)


def _period(request: web.Request) -> Period:
    core = request.app[CORE]
    try:
        return period_for(core.settings, request.query.get("since") or None,
                          request.query.get("until") or None)
    except ValueError as exc:
        field = "until" if "until" in str(exc) else "since"
        raise ApiError(400, "invalid_parameter", str(exc), field) from None


async def _report(request: web.Request) -> Report:
    core: Core = request.app[CORE]
    return await make_report(core.sessions, core.settings, _period(request))


async def api_report(request: web.Request) -> web.Response:
    report = await _report(request)
    heap.loaded("report-data")  # scikit-learn (the gaps' clustering) on the first report
    return web.json_response(report.to_json())


def _page_error(exc: ApiError) -> web.Response:
    return web.Response(status=400, text=f"Bad request: {exc.message}", headers=HEADERS)


async def admin_page(request: web.Request) -> web.Response:
    try:
        report = await _report(request)
    except ApiError as exc:
        return _page_error(exc)
    locale = _locale(request)
    body = await asyncio.to_thread(render.html, report, locale, _controls(report, locale))
    # scikit-learn and matplotlib were loaded for the first report: settle once (bot/heap.py)
    heap.loaded("report-charts")
    body = body.replace("<body>", "<body>\n" + nav_html(request.path, True), 1)
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=HEADERS)


async def admin_pdf(request: web.Request) -> web.Response:
    try:
        report = await _report(request)
    except ApiError as exc:
        return _page_error(exc)
    data = await asyncio.to_thread(render.pdf_bytes, report, _locale(request))
    heap.loaded("report-charts")
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="report-{report.period.first_day}.pdf"',
        "Cache-Control": "no-store"})


async def admin_zip(request: web.Request) -> web.Response:
    try:
        report = await _report(request)
    except ApiError as exc:
        return _page_error(exc)
    data = await asyncio.to_thread(_csv_zip, report, _locale(request))
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="report-{report.period.first_day}.zip"',
        "Cache-Control": "no-store"})


def _controls(report: Report, locale: str) -> str:
    """Downloads and the period and language form of the admin page (the admin UI's English)."""
    query = f"since={report.period.first_day}&until={report.period.last_day}&lang={locale}"
    options = "".join(
        f'<option value="{code}"{" selected" if code == locale else ""}>{name}</option>'
        for code, name in LANGUAGES.items())
    return (f'<p class="note"><a href="/admin/reports.pdf?{query}">PDF</a> · '
            f'<a href="/admin/reports.zip?{query}">CSV (zip)</a> · '
            '<a href="/admin/">back to admin</a></p>\n'
            '<form method="get" action="/admin/reports" class="note">'
            f'From <input type="date" name="since" value="{report.period.first_day}"> '
            f'to <input type="date" name="until" value="{report.period.last_day}"> '
            f'<label>Language <select name="lang">{options}</select></label> '
            '<button type="submit">Show</button></form>')


def _csv_zip(report: Report, locale: str) -> bytes:
    buf = io.BytesIO()
    with TemporaryDirectory() as tmp, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in render.write_csv(report, Path(tmp), locale):
            zf.write(path, path.name)
    return buf.getvalue()


ROUTES = [
    ApiRoute("GET", "/api/v1/reports", api_report, "admin",
             "Management report for a period (JSON): headline figures, previous period, "
             "tables by channel, locale, agent, per day, top KB entries, knowledge gaps",
             params=PERIOD_PARAMS, tag="reports", errors=(400,)),
]
PAGES = (("/admin/reports", admin_page), ("/admin/reports.pdf", admin_pdf),
         ("/admin/reports.zip", admin_zip))


def setup(app: web.Application, core: Core) -> None:
    """Register the API route and admin pages; start the weekly Slack post when configured."""
    register(app, ROUTES)
    for path, handler in PAGES:
        app.router.add_get(path, handler)
        allow(app, "GET", path, "admin")
        allow(app, "HEAD", path, "admin")
    if core.settings.report_slack_channel:
        app.cleanup_ctx.append(schedule.cleanup_ctx(core.sessions, core.settings))
