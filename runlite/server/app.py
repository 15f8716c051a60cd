"""The ASGI application behind ``runlite serve``: LangSmith's REST API and the viewer pages.

Routes are LangSmith's (``writes.py``, ``reads.py``), also under ``/api/v1`` as LangSmith
serves them, its v2 run reads under ``/api/v2`` (``reads_v2.py``), and OTLP/HTTP's
``/v1/traces`` (``otlp.py``, at the root, before anything else); every other GET is a viewer
page (``ui/viewer.py``). Every route passes the API key check here; bodies and errors are
handled as ``http.py`` says (OTLP's as OTLP says).
"""

from __future__ import annotations

import hmac
import urllib.parse
from typing import Callable

from .. import errors
from .http import API_PREFIX, MAX_BODY, error_response, in_thread, status_of

def make_app(store, *, api_key: str | None = None, max_body: int = MAX_BODY, viewer: bool = True):
    """The application serving ``store`` (a writable ``runlite.Store``).

    Args:
        api_key: when given, every request must carry it (``x-api-key``, as LangSmith's
            SDKs send it, or ``Authorization: Bearer``); others get 401.
        max_body: the largest request body taken, in bytes (after decompression).
        viewer: also serve the viewer pages.
    """
    try:
        from starlette.applications import Starlette
        from starlette.routing import Mount, Route
        from multipart import PushMultipartParser  # noqa: F401 - a form's parser (python-multipart's shim lacks it)
    except ImportError as exc:
        raise ImportError("runlite serve needs its server extra: pip install 'runlite[server]'") from exc
    from . import otlp, reads, reads_v2, writes

    def guarded(handler: Callable, refuse: Callable | None = None) -> Callable:
        async def endpoint(request):
            if api_key is not None and not (_authorised(request, api_key) or reads.signed(request, api_key)):
                message = "this server needs its API key (x-api-key header, or ?api_key= once in a browser)"
                return refuse(request, 401, message) if refuse else error_response(401, message)
            try:
                response = await handler(request, store, max_body)
            except errors.RunliteError as exc:
                response = error_response(status_of(exc), str(exc))
            if api_key is not None and "api_key" in request.query_params:  # a browser: keep it in a cookie
                response.set_cookie(COOKIE, api_key, httponly=True, samesite="strict")
            return response
        return endpoint

    api = [Route(path, guarded(handler), methods=methods)
           for path, methods, handler in (*writes.ROUTES, *reads.ROUTES)]
    v2 = [Route(path, guarded(handler), methods=methods) for path, methods, handler in reads_v2.ROUTES]
    traces = [Route(path, guarded(handler, otlp.refusal), methods=methods) for path, methods, handler in otlp.ROUTES]
    routes = [*traces, *api, *v2, Mount(API_PREFIX, routes=list(api))]
    served = [*traces, *api, *v2]  # LangSmith's and OTLP's paths this server answers
    if viewer:
        from ..ui.viewer import Viewer

        pages = Viewer(store)
        routes.append(Route("/{path:path}", guarded(_viewer_page(pages, served)), methods=["GET", "HEAD"]))

    async def not_found(request, exc):
        return _unimplemented(request, served) or error_response(
            404, f"no route {request.method} {request.url.path[:200]}")

    async def not_allowed(request, exc):
        return _unimplemented(request, served) or error_response(
            405, f"{request.method} is not allowed on {request.url.path[:200]}")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed, 500: _failed})
    app.state.api_key = api_key
    app.state.viewer = viewer  # a run's URL (reads_v2.get_url) is its viewer page
    return app


COOKIE = "runlite_api_key"


def _authorised(request, api_key: str) -> bool:
    """The key as LangSmith's SDKs send it (``x-api-key``), as a bearer token, or as a browser
    gives it: once in the address (``?api_key=``), then in the cookie set in answer."""
    auth = request.headers.get("authorization", "")
    for given in (request.headers.get("x-api-key"), auth[7:] if auth.lower().startswith("bearer ") else None,
                  request.cookies.get(COOKIE), request.query_params.get("api_key")):
        if given is not None and hmac.compare_digest(given.encode("utf-8", "replace"), api_key.encode()):
            return True
    return False


# The first part of the paths of LangSmith's API (as its SDKs call it): one this server does
# not serve is answered 501 saying so, not with a viewer page or "not allowed".
_LANGSMITH = frozenset(("runs", "sessions", "feedback", "datasets", "examples", "annotation-queues", "repos",
                        "commits", "public", "feedback-configs", "platform", "workspaces", "settings", "likes",
                        "tenants", "orgs", "prompts", "threads", "info", "v1", "v2"))
SERVED = ("runs (POST /runs, PATCH and GET /runs/{id}, /runs/batch, /runs/multipart, /runs/query; "
          "v2: POST /api/v2/runs/query, GET /api/v2/runs/{id} and /api/v2/runs/{id}/url), "
          "projects (GET /sessions, /sessions/{id}), feedback (POST and GET /feedback), /info, "
          "and OTLP at /v1/traces")


def _langsmith_path(path: str) -> bool:
    """Whether ``path`` is one of LangSmith's API (``/runs`` alone is a viewer page)."""
    if path.startswith(API_PREFIX + "/") or path.startswith("/api/v2/"):
        return True
    return path != "/runs" and path.lstrip("/").split("/", 1)[0] in _LANGSMITH


def _served(request, routes: list) -> bool:
    """Whether one of ``routes`` serves the request's path (by another method, then)."""
    from starlette.routing import Match

    path = request.url.path
    path = path[len(API_PREFIX):] if path.startswith(API_PREFIX + "/") else path
    scope = {"type": "http", "path": path, "method": request.method, "root_path": ""}
    return any(route.matches(scope)[0] != Match.NONE for route in routes)


def _unimplemented(request, served: list):
    """The answer to a request of LangSmith's API this server does not implement (405 when
    it serves the path by another method, else 501), None for any other request."""
    method, path = request.method, request.url.path
    if not _langsmith_path(path):
        return None
    if _served(request, served):
        return error_response(405, f"{method} is not allowed on {path[:200]}: runlite serve does not implement it; "
                                   f"it serves {SERVED}")
    return error_response(501, f"runlite serve does not implement {method} {path[:200]} of LangSmith's API; "
                               f"it serves {SERVED}")


def _viewer_page(pages, served: list):
    async def page(request, store, max_body):
        from starlette.responses import Response

        refused = _unimplemented(request, served)
        if refused is not None:
            return refused
        query = urllib.parse.urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "api_key"])
        target = request.url.path + (f"?{query}" if query else "")
        answer = await in_thread(pages.get, target)
        from ..ui.viewer import SECURITY_HEADERS

        return Response(answer.body, status_code=answer.status, media_type=answer.content_type,
                        headers=dict(SECURITY_HEADERS))
    return page


async def _failed(request, exc):
    return error_response(500, f"the server failed: {type(exc).__name__}")


