"""The viewer's HTTP server: the standard library's, on 127.0.0.1, read-only.

Routes (all GET):

- ``/``: the page (a Jinja2 template, autoescaped), ``/static/view.js|view.css``;
- ``/api/runs``: every run's description, confusion matrix and outcome counts;
- ``/api/samples?focus=&gold=&pred=&outcome=&q=&disagree=&page=&size=``: one page;
- ``/api/media?run=&id=``: how a sample's media was sent, part by part;
- ``/media/part?run=&id=&k=``: part ``k`` as the model saw it (a still, a frame, a clip);
- ``/thumb?run=&id=``: a small JPEG of the sample.

Run data is untrusted (a model can answer ``<script>``): the page escapes it,
its script writes it with ``textContent`` only, and the Content-Security-Policy
allows no inline script at all, so an injection has nothing to run. Requests
whose ``Host`` is not the loopback address are refused (DNS rebinding).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from vlmfer.errors import ConfigError
from vlmfer.report.templating import render, static_text
from vlmfer.view.media import SampleMedia
from vlmfer.view.runs import Catalog, Filters

log = logging.getLogger("vlmfer")

HOST = "127.0.0.1"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
_STATIC = {"view.js": "text/javascript; charset=utf-8", "view.css": "text/css; charset=utf-8"}


class _Reply(Exception):
    """Ends a request early with an HTTP error and a message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def _one(query: dict[str, list[str]], name: str) -> str:
    values = query.get(name)
    if not values:
        raise _Reply(HTTPStatus.BAD_REQUEST, f"missing query parameter {name!r}")
    return values[-1]


def _int(query: dict[str, list[str]], name: str) -> int:
    value = _one(query, name)
    try:
        return int(value)
    except ValueError:
        raise _Reply(HTTPStatus.BAD_REQUEST, f"{name}={value!r} is not a whole number") from None


class ViewApp:
    """What the server answers, independent of the socket (tests call it directly too)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.static = {name: static_text(f"view/{name}").encode("utf-8") for name in _STATIC}

    def page(self) -> bytes:
        runs = [run.describe() for run in self.catalog.runs]
        return render("view/page.html.j2", runs=runs).encode("utf-8")

    def samples(self, query: dict[str, list[str]]) -> dict[str, Any]:
        # An empty value means "any": the page sends every field, set or not.
        fields = {k: v[-1] for k, v in query.items() if k in Filters.model_fields and v[-1]}
        try:
            filters = Filters.model_validate(fields)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise _Reply(HTTPStatus.BAD_REQUEST, f"{where}: {first['msg']}") from None
        return self.catalog.page(filters)

    def _media(self, query: dict[str, list[str]]) -> SampleMedia:
        run, sample_id = _int(query, "run"), _one(query, "id")
        pred = self.catalog.prediction(run, sample_id)
        if pred is None:
            raise _Reply(HTTPStatus.NOT_FOUND, f"run {run} has no sample {sample_id!r}")
        vrun = self.catalog.runs[run]
        return SampleMedia(vrun.manifest, pred, vrun.cache_dir)

    def media_info(self, query: dict[str, list[str]]) -> dict[str, Any]:
        return self._media(query).info()

    def media_part(self, query: dict[str, list[str]]) -> tuple[bytes, str]:
        found = self._media(query).part(_int(query, "k"))
        if found is None:
            raise _Reply(HTTPStatus.NOT_FOUND, "no such media part")
        return found

    def thumbnail(self, query: dict[str, list[str]]) -> tuple[bytes, str]:
        data = self._media(query).thumbnail()
        if data is None:
            raise _Reply(HTTPStatus.NOT_FOUND, "no thumbnail: the media file cannot be read")
        return data, "image/jpeg"


def _handler(app: ViewApp, quiet: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "vlmfer-view"

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                sys.stderr.write(f"vlmfer view: {format % args}\n")

        def _send(self, status: HTTPStatus, body: bytes, mime: str, *,
                  cache: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", mime)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "private, max-age=300" if cache else "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
            body = json.dumps(data, ensure_ascii=False).encode("utf-8")
            self._send(status, body, "application/json; charset=utf-8")

        def _host_ok(self) -> bool:
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
            return host in ("127.0.0.1", "localhost")

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            routes: dict[str, Callable[[], None]] = {
                "/": lambda: self._send(HTTPStatus.OK, app.page(), "text/html; charset=utf-8"),
                "/api/runs": lambda: self._json(app.catalog.summary()),
                "/api/samples": lambda: self._json(app.samples(query)),
                "/api/media": lambda: self._json(app.media_info(query)),
                "/media/part": lambda: self._send(HTTPStatus.OK, *app.media_part(query),
                                                  cache=True),
                "/thumb": lambda: self._send(HTTPStatus.OK, *app.thumbnail(query), cache=True),
                "/favicon.ico": lambda: self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon"),
            }
            try:
                if not self._host_ok():
                    raise _Reply(HTTPStatus.FORBIDDEN, "the viewer answers only 127.0.0.1")
                if url.path.startswith("/static/") and url.path[8:] in _STATIC:
                    name = url.path[8:]
                    self._send(HTTPStatus.OK, app.static[name], _STATIC[name], cache=True)
                    return
                route = routes.get(url.path)
                if route is None:
                    raise _Reply(HTTPStatus.NOT_FOUND, f"no such page: {url.path}")
                route()
            except _Reply as e:
                self._json({"error": str(e)}, e.status)
            except ConfigError as e:
                self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the browser went away
            except Exception as e:
                log.exception("vlmfer view: %s failed", self.path)
                self._json({"error": f"{type(e).__name__}: {e}"},
                           HTTPStatus.INTERNAL_SERVER_ERROR)

        do_HEAD = do_GET

        def _read_only(self) -> None:
            self._json({"error": "the viewer is read-only: only GET is allowed"},
                       HTTPStatus.METHOD_NOT_ALLOWED)

        do_POST = do_PUT = do_DELETE = do_PATCH = _read_only

    return Handler


class ViewServer:
    """A running viewer: ``url``, ``serve_forever()``, or ``start()``/``stop()`` in a thread.

    >>> with ViewServer.open(["runs/a", "runs/b"]) as server:  # doctest: +SKIP
    ...     print(server.url)
    """

    def __init__(self, catalog: Catalog, *, port: int = 0, quiet: bool = True) -> None:
        self.app = ViewApp(catalog)
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), _handler(self.app, quiet))
        except OSError as e:
            raise ConfigError(
                f"cannot listen on {HOST}:{port} ({e.strerror or e}); choose another --port, "
                "or leave it out to use a free one"
            ) from e
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, paths: Sequence[Path | str], *, port: int = 0,
             quiet: bool = True) -> ViewServer:
        return cls(Catalog.open(paths), port=port, quiet=quiet)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def start(self) -> ViewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="vlmfer-view")
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
