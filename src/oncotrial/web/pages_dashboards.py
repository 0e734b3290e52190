"""The dashboards: enrolment by site and over time against plan, the phase I DLT table with the
dose-escalation figure, and the efficacy figures (swimmer, waterfall, spider, Kaplan–Meier with
the survival table) — pages, their PNG figures and their JSON.

Each handler calls one :mod:`oncotrial.conduct.dashboards` use case (permission, site scope,
data as the store holds it now) and lays its answer out with the report's table formatting
(:func:`oncotrial.report.formatting.table`, the same HTML ids as in the report).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from oncotrial.conduct import accounts, dashboards
from oncotrial.conduct.roles import Actor
from oncotrial.conduct.study import Study
from oncotrial.report.formatting import table
from oncotrial.web.rendering import call, render, signed_in, study_of
from oncotrial.web.security import session_of

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/dashboards", tags=["dashboards"])


def _site(site: str | None) -> str | None:
    return site.strip() or None if site else None


def _sites_of(study: Study, actor: Actor) -> list[Any]:
    return [s for s in accounts.list_sites(study, actor) if actor.sees_site(s.code)]


async def _page(request: Request, template: str, site: str | None, **context: Any) -> HTMLResponse:
    actor, csrf = await signed_in(request)
    study = study_of(request)
    sites = await call(_sites_of, study, actor)
    return render(request, template, actor, csrf, sites=sites, site=site or "", **context)


@router.get("/dashboards", response_class=HTMLResponse)
async def enrolment_page(request: Request, site: str | None = None) -> Response:
    actor, _ = await signed_in(request)
    site = _site(site)
    view = await call(dashboards.enrolment, study_of(request), actor, site)
    by_level = (
        table(view.by_level, "enrolment", first_column="Dose level")
        if not view.by_level.empty
        else ""
    )
    return await _page(
        request,
        "dash_enrolment.html.j2",
        site,
        view=view,
        by_level=by_level,
        query=f"?site={site}" if site else "",
    )


async def _results_page(request: Request, template: str, site: str | None) -> Response:
    actor, _ = await signed_in(request)
    site = _site(site)
    view = await call(dashboards.results, study_of(request), actor, site)
    tables: dict[str, str] = {}
    if view.dlt is not None:
        tables["dlt"] = table(view.dlt.table, "dlt", first_column="Dose level")
        if not view.dlt.listing.empty:
            tables["dlt_listing"] = table(view.dlt.listing, "dlt-listing", text=True)
    if view.survival is not None and not view.survival.table.empty:
        tables["survival"] = table(view.survival.table, "survival", first_column="Endpoint")
    return await _page(
        request,
        template,
        site,
        view=view,
        tables=tables,
        titles=dashboards.FIGURES,
        query=f"?site={site}" if site else "",
    )


@router.get("/dashboards/phase1", response_class=HTMLResponse)
async def phase1_page(request: Request, site: str | None = None) -> Response:
    return await _results_page(request, "dash_phase1.html.j2", site)


@router.get("/dashboards/efficacy", response_class=HTMLResponse)
async def efficacy_page(request: Request, site: str | None = None) -> Response:
    return await _results_page(request, "dash_efficacy.html.j2", site)


@router.get("/dashboards/figures/{name}")
async def figure_png(request: Request, name: str, site: str | None = None) -> Response:
    """A dashboard figure as PNG (``swimmer.png`` …), drawn by the report's code."""
    actor, _ = await signed_in(request)
    png = await call(
        dashboards.figure, study_of(request), actor, name.removesuffix(".png"), _site(site)
    )
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def _api_actor(request: Request) -> Actor:
    return session_of(request, study_of(request)).actor


@api_router.get("/enrolment", responses={401: {}, 403: {}, 404: {}})
async def enrolment_json(request: Request, site: str | None = None) -> JSONResponse:
    """Enrolment by site, by dose level and phase, and month by month against the protocol's
    plan, for the sites the caller sees (or ``site``)."""
    actor = await call(_api_actor, request)
    view = await call(dashboards.enrolment, study_of(request), actor, _site(site))
    return JSONResponse(view.to_json())


@api_router.get("/results", responses={401: {}, 403: {}, 404: {}})
async def results_json(request: Request, site: str | None = None) -> JSONResponse:
    """The phase I DLT table and listing, the survival table and the figures available
    (``/dashboards/figures/{name}.png``), for the sites the caller sees (or ``site``)."""
    actor = await call(_api_actor, request)
    view = await call(dashboards.results, study_of(request), actor, _site(site))
    return JSONResponse(view.to_json())
