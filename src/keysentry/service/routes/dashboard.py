"""The dashboard: server-rendered pages (Jinja2, plain forms; no front-end build).

Log in with an API token (kept in an HTTP-only, SameSite=Strict cookie and checked on every request);
open exposures at a glance and per account, how fast leaks were contained and announced (per source
and per day), and each exposure's page, which shows what the notifications say, the messages sent and
the timeline, with the operator's actions.  Form posts must come from the dashboard's own origin.

Everything shown of an exposure came from whoever published the leak: the templates autoescape by
construction (:func:`keysentry.escaping.template_environment`), only http(s) URLs become links, the
pages carry no script and no inline style (``Content-Security-Policy`` forbids both, see
``service/headers.py``), and a page's notice ("acknowledge: now acknowledged") travels in a short-lived
cookie set by the action, never in the URL, so a crafted link cannot make the dashboard say something.

No ``from __future__ import annotations``: FastAPI reads these annotations at run time."""

import json
import statistics
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import FileSystemLoader
from markupsafe import Markup

from keysentry.clock import utcnow
from keysentry.config.settings import Settings
from keysentry.detect.rules import SEVERITIES
from keysentry.errors import KeysentryError
from keysentry.escaping import template_environment
from keysentry.notify.message import context as message_context
from keysentry.respond.announcement import facts_of
from keysentry.respond.outcome import WORDS, outcome_is, outcome_of
from keysentry.respond.responder import Responder
from keysentry.respond.states import CLOSED_VIEW, OPERATOR_ACTIONS, RESOLUTIONS, State
from keysentry.respond.timeline_text import sentence
from keysentry.respond.view import ExposureView
from keysentry.service.chart import DayLatency, latency_chart, sources_chart
from keysentry.service.permissions import needs
from keysentry.service.routes.exposures import csv_of, detail, summary
from keysentry.store.db import Session, Store
from keysentry.store.models import MAX_ID, Exposure
from keysentry.store.queries import (
    SORTS,
    UNASSIGNED,
    ExposureFilter,
    Timing,
    assignees,
    count_exposures,
    each_exposure,
    exposure_by_id,
    sorted_exposures,
    timings,
)
from keysentry.store.tokens import Caller, check_token

COOKIE = "keysentry_token"
FLASH_COOKIE = "keysentry_flash"
TEMPLATES = Path(__file__).parents[1] / "templates"
STATIC = Path(__file__).parents[1] / "static"


def _seconds(td: timedelta | None) -> str:
    if td is None:
        return "-"
    s = td.total_seconds()
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.1f} h"


def _median_seconds(values: list[timedelta]) -> float | None:
    return statistics.median(v.total_seconds() for v in values) if values else None


def _median(values: list[timedelta]) -> str:
    seconds = _median_seconds(values)
    return "-" if seconds is None else _seconds(timedelta(seconds=seconds))


def charts(rows: list[Timing]) -> dict[str, Markup]:
    """The latency over the last 30 days with exposures, and the count per source, as SVG."""
    by_day: dict[str, list[Timing]] = defaultdict(list)
    by_source: dict[str, int] = defaultdict(int)
    for e in rows:
        by_day[e.detected_at.strftime("%Y-%m-%d")].append(e)
        by_source[e.source or "unknown"] += 1
    days = [
        DayLatency(
            day,
            _median_seconds([e.contained_at - e.detected_at for e in group if e.contained_at]),
            _median_seconds(
                [e.contained_at - e.first_seen_at for e in group if e.contained_at and e.first_seen_at]
            ),
        )
        for day, group in sorted(by_day.items())[-30:]
    ]
    counts = sorted(by_source.items(), key=lambda kv: (-kv[1], kv[0]))
    # The SVG builders escape every label themselves: safe to insert as markup.
    return {"latency": Markup(latency_chart(days)), "sources": Markup(sources_chart(counts))}  # noqa: S704


def figures(rows: list[Timing]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per source and per day: how many, and how fast they were contained and announced."""
    by_source: dict[str, list[Timing]] = defaultdict(list)
    by_day: dict[str, list[Timing]] = defaultdict(list)
    for e in rows:
        by_source[e.source or "unknown"].append(e)
        by_day[e.detected_at.strftime("%Y-%m-%d")].append(e)
    per_source = [
        {
            "source": source,
            "count": len(group),
            "contained": sum(1 for e in group if e.contained_at),
            "leak_to_contained": _median(
                [e.contained_at - e.first_seen_at for e in group if e.contained_at and e.first_seen_at]
            ),
            "detect_to_contained": _median([e.contained_at - e.detected_at for e in group if e.contained_at]),
            "detect_to_notified": _median([e.notified_at - e.detected_at for e in group if e.notified_at]),
        }
        for source, group in sorted(by_source.items())
    ]
    per_day = [
        {
            "day": day,
            "detected": len(group),
            "contained": sum(1 for e in group if e.contained_at),
            "median": _median([e.contained_at - e.detected_at for e in group if e.contained_at]),
        }
        for day, group in sorted(by_day.items(), reverse=True)[:30]
    ]
    return per_source, per_day


PAGE_SIZE = 50


def listing_filter(request: Request) -> tuple[ExposureFilter, dict[str, Any]]:
    """The list's filters from the query string (a plain GET form): the filter, and the values to show
    back in the form.  What does not parse is ignored, never an error page."""
    q = request.query_params
    chosen: dict[str, Any] = {
        "show": q.get("show") if q.get("show") in ("open", "all") else "open",
        "state": q.get("state") or "",
        "outcome": q.get("outcome") if q.get("outcome") in WORDS else "",
        "assignee": (q.get("assignee") or "").strip()[:128],
        "severity": q.get("severity") if q.get("severity") in SEVERITIES else "",
        "credential_type": (q.get("credential_type") or "")[:64],
        "source": (q.get("source") or "")[:32],
        "account": (q.get("account") or "")[:12],
        "q": (q.get("q") or "").strip()[:200],
        "since": _day(q.get("since")),
        "until": _day(q.get("until")),
        "sort": q.get("sort") if q.get("sort") in SORTS else "newest",
    }
    since = datetime.fromisoformat(chosen["since"]).replace(tzinfo=UTC) if chosen["since"] else None
    until = (
        datetime.fromisoformat(chosen["until"]).replace(tzinfo=UTC) + timedelta(days=1)
        if chosen["until"]
        else None
    )
    f = ExposureFilter(
        state=[chosen["state"]] if chosen["state"] else None,
        account=chosen["account"] or None,
        credential_type=chosen["credential_type"] or None,
        source=chosen["source"] or None,
        since=since,
        until=until,
        severity=chosen["severity"] or None,
        search=chosen["q"] or None,
        assignee=chosen["assignee"] or None,
        where=(outcome_is(chosen["outcome"]),) if chosen["outcome"] else (),
        not_in=tuple(CLOSED_VIEW) if chosen["show"] == "open" and not chosen["state"] else (),
    )
    return f, chosen


def _day(value: str | None) -> str:
    """``YYYY-MM-DD`` if ``value`` is one, else ""."""
    try:
        return date.fromisoformat(value or "").isoformat()
    except ValueError:
        return ""


def query_string(chosen: dict[str, Any], **changes: Any) -> str:
    """The list's query string with these values changed (empty values left out)."""
    values = {**chosen, **changes}
    return urlencode({k: v for k, v in values.items() if v not in ("", None)})


class Pages:
    """Rendering and redirects, with the caller read from the session cookie."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.templates = Jinja2Templates(env=template_environment(FileSystemLoader(TEMPLATES), "html"))
        self.templates.env.filters["utc"] = utc_text

    def caller_of(self, request: Request) -> Caller | None:
        return check_token(self.store, request.cookies.get(COOKIE))

    def allowed(self, request: Request, method: str, path: str) -> Caller | None:
        """The session's caller if its role may ``method path`` (the permissions table), else None."""
        caller = self.caller_of(request)
        return caller if caller is not None and caller.may(needs(method, path)) else None

    def page(self, request: Request, name: str, caller: Caller | None, **values: Any) -> HTMLResponse:
        notice = unquote(request.cookies.get(FLASH_COOKIE) or "") or None
        error = notice.startswith("!") if notice else False
        flash = (notice[1:] if notice else None) or None
        answer = self.templates.TemplateResponse(
            request,
            name,
            {"caller": caller, "flash": flash, "flash_error": error, **values},
        )
        if notice is not None:
            answer.delete_cookie(FLASH_COOKIE, path="/")
        return answer

    @staticmethod
    def back_to(where: str, text: str, error: bool = False) -> RedirectResponse:
        """Redirect to ``where`` with a notice for the next page only (a cookie, not the URL)."""
        answer = RedirectResponse(where, status_code=303)
        answer.set_cookie(
            FLASH_COOKIE,
            quote(("!" if error else "+") + text[:300]),
            max_age=60,
            path="/",
            httponly=True,
            samesite="strict",
        )
        return answer

    @staticmethod
    def to_login() -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)


def dashboard_router(responder: Responder) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    pages = Pages(responder.store)
    _login_routes(router, pages)
    _exposure_routes(router, pages, responder)
    return router


def _login_routes(router: APIRouter, pages: Pages) -> None:
    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return pages.page(request, "login.html", None)

    @router.post("/login")
    async def login(request: Request, token: str = Form("")) -> Response:
        caller = await run_in_threadpool(check_token, pages.store, token.strip())
        if caller is None:
            return pages.page(request, "login.html", None, flash="That token is not valid.", flash_error=True)
        answer = RedirectResponse("/", status_code=303)
        answer.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", max_age=12 * 3600)
        return answer

    @router.get("/logout")
    def logout() -> Response:
        answer = pages.to_login()
        answer.delete_cookie(COOKIE)
        return answer


def _exposure_routes(router: APIRouter, pages: Pages, responder: Responder) -> None:
    store = responder.store

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        caller = pages.allowed(request, "GET", "/")
        if caller is None:
            return pages.to_login()
        f, chosen = listing_filter(request)
        try:
            page = max(1, int(request.query_params.get("page") or 1))
        except ValueError:
            page = 1
        with store.session() as session:
            total = count_exposures(session, f)
            shown = sorted_exposures(session, f, chosen["sort"], PAGE_SIZE, (page - 1) * PAGE_SIZE)
            rows = [_row(e) for e in shown]
            timed = timings(session, f)
            per_source, per_day = figures(timed)
            people = assignees(session)
        last = max(1, -(-total // PAGE_SIZE))
        return pages.page(
            request,
            "index.html",
            caller,
            rows=rows,
            total=total,
            page=page,
            last_page=last,
            chosen=chosen,
            prev_query=query_string(chosen, page=page - 1) if page > 1 else None,
            next_query=query_string(chosen, page=page + 1) if page < last else None,
            export_query=query_string(chosen),
            sort_query={name: query_string(chosen, sort=name) for name in SORTS},
            states=[s.value for s in State],
            outcomes=WORDS,
            assignees=people,
            unassigned=UNASSIGNED,
            severities=SEVERITIES,
            figures=per_source,
            per_day=per_day,
            charts=charts(timed),
        )

    @router.get("/exposures.csv")
    def export_csv(request: Request) -> Response:
        return _export(request, "csv")

    @router.get("/exposures.json")
    def export_json(request: Request) -> Response:
        return _export(request, "json")

    def _export(request: Request, fmt: str) -> Response:
        """The filtered list, every page of it, for a spreadsheet or a script (the API's columns)."""
        if pages.allowed(request, "GET", f"/exposures.{fmt}") is None:
            return pages.to_login()
        f, _ = listing_filter(request)
        with store.session() as session:
            records = [summary(e) for e in each_exposure(session, f)]
        if fmt == "json":
            return Response(
                json.dumps(records, indent=1),
                media_type="application/json",
                headers={"Content-Disposition": 'attachment; filename="exposures.json"'},
            )
        return Response(
            csv_of(records),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="exposures.csv"'},
        )

    @router.get("/exposures/{exposure_id}", response_class=HTMLResponse)
    def exposure_page(request: Request, exposure_id: int) -> Response:
        caller = pages.allowed(request, "GET", "/exposures/{exposure_id}")
        if caller is None:
            return pages.to_login()
        with store.session() as session:
            # (a number past what the store holds is no exposure either, not a database error)
            e = exposure_by_id(session, exposure_id) if 0 < exposure_id <= MAX_ID else None
            if e is None:
                answer = pages.page(request, "missing.html", caller, exposure_id=exposure_id)
                answer.status_code = 404
                return answer
            values = _exposure_values(session, e, responder.context.settings)
            return pages.page(request, "exposure.html", caller, **values)

    @router.post("/exposures/{exposure_id}/{action}")
    async def act(
        request: Request,
        exposure_id: int,
        action: str,
        reason: str = Form(""),
        resolution: str = Form(""),
        assignee: str = Form(""),
    ) -> Response:
        caller = await run_in_threadpool(pages.caller_of, request)
        if caller is None:
            return pages.to_login()
        if not _same_origin(request):
            return Response("cross-site form posts are refused", status_code=403)
        where = f"/exposures/{exposure_id}"
        role = needs("POST", "/exposures/{exposure_id}/{action}")
        if not caller.may(role):
            return pages.back_to(where, f"This needs the {role} role.", error=True)
        try:
            state = await run_in_threadpool(
                responder.act,
                exposure_id,
                action,
                f"dashboard:{caller.name}",
                reason.strip() or None,
                resolution or None,
                assignee,
            )
        except KeysentryError as exc:
            return pages.back_to(where, str(exc), error=True)
        if action == "assign":
            return pages.back_to(
                where, f"assigned to {assignee.strip()}" if assignee.strip() else "unassigned"
            )
        return pages.back_to(where, f"{action}: now {state}")


def _row(e: Exposure) -> dict[str, Any]:
    """One open exposure in the index's table."""
    outcome = outcome_of(e.state, e.containment, e.state_reason)
    return {
        "id": e.id,
        "key_id": e.key_id,
        "outcome": outcome,
        "state": e.state,
        "assignee": e.assignee,
        "account_id": e.account_id,
        "account_name": e.account_name,
        "principal_arn": e.principal_arn,
        "principal_type": e.principal_type,
        "severity": e.severity,
        "source": e.sightings[0].source_kind if e.sightings else None,
        "detected_at": e.detected_at.isoformat(),
    }


def _exposure_values(session: Session, e: Exposure, settings: Settings) -> dict[str, Any]:
    """What the exposure's page shows: its detail, the message the owner got, the actions open now."""
    described = detail(session, e)
    m = message_context(facts_of(ExposureView.of(e), settings), e.notified_at or utcnow())
    allowed = [
        {"name": a.name, "label": a.label, "needs_reason": a.needs_reason, "needs": a.needs}
        for a in OPERATOR_ACTIONS.values()
        if (_releasable(e) if a.name == "release" else e.state in a.allowed_from)
    ]
    return {
        "e": described | {"id": e.id, "state": e.state},
        "resolutions": RESOLUTIONS,
        "resolution": RESOLUTIONS.get(e.resolution or "", e.resolution),
        "outcome": outcome_of(e.state, e.containment, e.state_reason),
        "m": m,
        "containment_text": _containment_text(m, e),
        "actions": allowed,
        "deliveries": described["deliveries"],
        "timeline": [
            {
                "at": t.at.isoformat(),
                "sentence": sentence(t.kind, t.detail, t.actor),
                # folded beneath: each value as text (no JSON, nothing escaped twice)
                "details": [
                    (k, _plain(v)) for k, v in (t.detail or {}).items() if v not in (None, "", [], {})
                ],
            }
            for t in e.timeline
        ],
    }


def utc_text(iso: str) -> str:
    """An ISO 8601 time as the dashboard writes every time: ``2026-12-07 04:12:33 UTC``."""
    try:
        t = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    return (t.astimezone(UTC) if t.tzinfo else t).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def _releasable(e: Exposure) -> bool:
    c = e.containment or {}
    return bool(c.get("applied")) and not c.get("released_at")


def _containment_text(m: dict[str, Any], e: Exposure) -> str:
    c = e.containment or {}
    if c.get("released_at"):
        return f"released at {c['released_at']} by {c.get('released_by')}: {c.get('release_reason')}"
    text = str(m["containment"]["what"])
    return f"{text}. It blocks: {m['containment']['blocks']}" if m["containment"]["blocks"] else text


def _same_origin(request: Request) -> bool:
    """A form post must come from a page of ours: its Origin (or Referer) names this host."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed:
        return False
    return urlsplit(claimed).netloc == request.headers.get("host")
