"""The studio's web server: Starlette, served by uvicorn.

One page, its static files, two downloads and one WebSocket per tab. The WebSocket is
the tab's session: the page sends its settings and commands, the server answers with
the run's messages (``ready`` when a run's data and network are built, then throttled
``snapshot`` messages). Closing the tab closes the WebSocket, which stops and frees the
run; at most ``max_runs`` tabs train at once.

A server that listens on a port guards what reaches it:

* it binds to 127.0.0.1 unless told otherwise, and only answers requests whose Host is
  one of the names it serves (no DNS rebinding);
* a random token, in the URL it prints, is exchanged (as Jupyter does) for an HttpOnly,
  SameSite=Strict cookie; every request and the WebSocket without the cookie or the
  token is refused (401 without, 403 with a wrong one);
* the WebSocket's Origin must be the served origin (no cross-site WebSocket hijacking);
* messages, request bodies and the number of runs are bounded, and the page can name
  datasets only by key: paths come from the command line alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import tempfile
from numbers import Integral, Real

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..persistence import save
from ..validation import InvalidParameterError, Interval, StrOptions, check_parameter
from .cartpole import CartPoleRun
from .run import Run
from .settings import DEFAULTS, KIND_DEFAULTS, SettingsError, read_settings

MAX_MESSAGE = 16 * 1024        # bytes of one message from the page
MAX_BODY = 16 * 1024           # bytes of a request body (the page sends none)
ANSWER_SECONDS = 30            # the most a download waits for its run to answer
STATIC = os.path.join(os.path.dirname(__file__), "static")
NO_TOKEN = ("This studio needs its token: open the address that `neuronet studio` printed in its terminal "
            "(http://…/?token=…).")
WRONG_TOKEN = "Wrong token: open the address that `neuronet studio` printed in its terminal."
COMMANDS = {"play": None, "pause": None, "reset": None,
            "step": [StrOptions({"batch", "epoch"})],
            "speed": [Interval(Real, 0, None, closed="neither"), None],
            "example": [Interval(Integral, 0, None, closed="left")],
            "threshold": [Interval(Real, 0, 1, closed="neither")],
            "sample": [Interval(Integral, 0, None, closed="left"), None],
            "episode": None}  # CartPole: play one greedy episode of the policy now


class Studio:
    """What the server shares: the token, the datasets and the open sessions (one a tab)."""

    def __init__(self, token, catalog, max_runs):
        self.token, self.catalog, self.max_runs = token, catalog, max_runs
        self.cookie = "neuronet-studio-" + hashlib.sha256(token.encode()).hexdigest()[:12]
        self.sessions = {}

    def admits(self, value):
        return value is not None and secrets.compare_digest(value.encode(), self.token.encode())

    def stop_all(self):
        for session in list(self.sessions.values()):
            session.close()


# --- the guard: token, Origin, sizes, and headers on every answer ---------------------------
class Guard:
    """ASGI middleware in front of every route (HTTP and WebSocket)."""

    def __init__(self, app, studio):
        self.app, self.studio = app, studio

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        connection = HTTPConnection(scope)
        refusal = self._refusal(connection, scope["type"])
        if refusal is not None:
            status, text = refusal
            return await self._refuse(scope, receive, send, PlainTextResponse(text, status))
        await self.app(scope, receive, _with_headers(send, connection.headers.get("host", "")))

    def _refusal(self, connection, kind):
        """(status, why) for a request to refuse, or None."""
        cookie, token = connection.cookies.get(self.studio.cookie), connection.query_params.get("token")
        if not (self.studio.admits(cookie) or self.studio.admits(token)):
            return (401, NO_TOKEN) if cookie is None and token is None else (403, WRONG_TOKEN)
        headers = connection.headers
        if kind == "websocket" and headers.get("origin") != f"http://{headers.get('host')}":
            return 403, f"WebSocket from origin {headers.get('origin')!r} refused: only this studio's own page connects"
        if kind == "http" and int(headers.get("content-length") or 0) > MAX_BODY:
            return 413, f"request body over {MAX_BODY} bytes"
        return None

    async def _refuse(self, scope, receive, send, response):
        if scope["type"] == "http":
            return await response(scope, receive, send)
        try:
            await WebSocket(scope, receive, send).send_denial_response(response)
        except RuntimeError:  # a server without the denial extension: a plain refusal (403)
            await send({"type": "websocket.close", "code": 1008})


def _with_headers(send, host):
    """Every HTTP answer: no caching, no framing, scripts and connections to this origin only."""
    policy = (f"default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws://{host}; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    extra = [(b"content-security-policy", policy.encode("latin-1")), (b"x-content-type-options", b"nosniff"),
             (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]

    async def sending(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


# --- pages and downloads ---------------------------------------------------------------------
async def index(request):
    """The page; with a valid ?token=, first the cookie and a redirect that drops it from the URL.
    The redirect's Location has no #fragment, so the browser keeps the address's own: a
    link's lesson and settings (#lesson=…&dataset=…) survive it."""
    studio = request.app.state.studio
    if "token" in request.query_params:
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(studio.cookie, studio.token, httponly=True, samesite="strict", path="/")
        return response
    return FileResponse(os.path.join(STATIC, "index.html"))


def _session_of(request):
    session = request.app.state.studio.sessions.get(request.path_params["session"])
    if session is None or session.run is None:
        return None
    return session


async def _answer(request, name):
    """The tab's run answers ``name`` between two minibatches; (result, None) or (None, refusal)."""
    session = _session_of(request)
    if session is None:
        return None, PlainTextResponse("no such run: it ended when its tab closed", 404)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(session.run.request(name)), ANSWER_SECONDS), None
    except asyncio.TimeoutError:
        return None, PlainTextResponse("the run is busy (still loading its data?): try again", 503)
    except (ValueError, OSError) as error:
        return None, PlainTextResponse(str(error), 409)


def model_bytes(model, extra):
    """The model file, as ``neuronet.save`` writes it."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        save(model, path, extra=extra)
        with open(path, "rb") as handle:
            return handle.read()


async def model_file(request):
    """The tab's model, as neuronet train saves one: ``neuronet evaluate``/``predict`` read it."""
    answer, refusal = await _answer(request, "model")
    if refusal is not None:
        return refusal
    model, extra, name = answer
    content = await run_in_threadpool(model_bytes, model, extra)
    return Response(content, media_type="application/octet-stream",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


async def python_code(request):
    """The tab's run as a Python script."""
    answer, refusal = await _answer(request, "python")
    return refusal if refusal is not None else PlainTextResponse(answer)


# --- the WebSocket: one session per tab ------------------------------------------------------
class Session:
    """One tab: its WebSocket, its run, and the outbox of messages for the page.

    The run publishes from its thread; each message is encoded there and handed to the
    event loop. A snapshot is dropped when two messages already wait (a slow page sees
    fewer frames, and training never waits for it); other messages always go.
    """

    def __init__(self, studio, websocket):
        self.studio, self.websocket = studio, websocket
        self.id = secrets.token_urlsafe(12)
        self.run = self.settings = None
        self.speed = None
        self.loop = asyncio.get_running_loop()
        self.outbox = asyncio.Queue()
        self.closed = False

    def publish(self, message):
        """From the run's thread: queue ``message`` for the page."""
        if self.run is None or message["run"] != self.run.number:
            return  # from a run that was replaced
        text = json.dumps(message, allow_nan=False)
        with contextlib.suppress(RuntimeError):  # the loop has closed: the server is stopping
            self.loop.call_soon_threadsafe(self._enqueue, text, message["type"] == "snapshot")

    def _enqueue(self, text, droppable):
        if not self.closed and not (droppable and self.outbox.qsize() >= 2):
            self.outbox.put_nowait(text)

    def send(self, message):
        self._enqueue(json.dumps(message), False)

    async def serve(self):
        self.send({"type": "hello", "session": self.id, "datasets": self.studio.catalog.describe(),
                   "defaults": DEFAULTS, "kind_defaults": KIND_DEFAULTS})
        sender = asyncio.create_task(self._send_all())
        try:
            while True:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    return await self.websocket.close(code=1003, reason="the studio takes JSON text messages")
                if len(text.encode()) > MAX_MESSAGE:
                    return await self.websocket.close(code=1009, reason=f"messages are at most {MAX_MESSAGE} bytes")
                self.handle(text)
        finally:
            sender.cancel()
            self.close()

    async def _send_all(self):
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await self.websocket.send_text(await self.outbox.get())

    def handle(self, text):
        """One message from the page; a bad one is answered with an error, never a traceback."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError as error:
            return self.send({"type": "error", "message": f"messages are JSON: {error}"})
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "settings":
            return self._new_settings(message.get("settings"))
        if kind not in COMMANDS:
            return self.send({"type": "error", "message": f"unknown message type {kind!r}; known: "
                                                          f"settings, {', '.join(COMMANDS)}"})
        value = message.get("value")
        if COMMANDS[kind] is not None:
            try:
                check_parameter("value", value, COMMANDS[kind], f"the {kind} command")
            except InvalidParameterError as error:
                return self.send({"type": "error", "message": str(error)})
        if self.settings is None:
            return self.send({"type": "error", "message": f"{kind}: no run yet; send the settings first"})
        if kind == "reset":
            return self._start(self.settings)
        if kind == "episode" and not self.settings.reinforcement:
            return self.send({"type": "error", "message": "episode: only CartPole plays episodes"})
        if kind == "speed":
            self.speed = value
        self.run.command(kind, value)

    def _new_settings(self, raw):
        try:
            settings = read_settings(raw, self.studio.catalog)
        except SettingsError as error:
            return self.send({"type": "invalid", "errors": error.errors})
        self._start(settings)

    def _start(self, settings):
        if self.run is not None:
            self.run.stop()
        self.settings = settings
        self.run = (CartPoleRun if settings.reinforcement else Run)(settings, self.studio.catalog, self.publish)
        self.run.command("speed", self.speed)
        self.send({"type": "preparing", "run": self.run.number, "dataset": settings.recipe.dataset})
        self.run.start()

    def close(self):
        self.closed = True
        if self.run is not None:
            self.run.stop()
        self.studio.sessions.pop(self.id, None)


async def stream(websocket):
    studio = websocket.app.state.studio
    await websocket.accept()
    if len(studio.sessions) >= studio.max_runs:
        await websocket.send_json({"type": "refused", "message": (
            f"{len(studio.sessions)} tabs are training already, the most this studio runs at once "
            "(neuronet studio --max-runs): close one of them, then reload this page")})
        await websocket.close(code=1013)
        return
    session = Session(studio, websocket)
    studio.sessions[session.id] = session
    await session.serve()


# --- the application ---------------------------------------------------------------------------
def create_app(token, catalog, hosts=("127.0.0.1", "localhost"), max_runs=4):
    """The studio as an ASGI application.

    Parameters
    ----------
    token : str
        The secret in the printed URL.
    catalog : Catalog
        The datasets the page may choose.
    hosts : sequence of str
        The host names the server answers to ("*": any, for a server on another interface).
    max_runs : int
        The most tabs that train at once.
    """
    studio = Studio(token, catalog, max_runs)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        studio.stop_all()

    app = Starlette(
        routes=[Route("/", index), Route("/api/runs/{session}/model", model_file),
                Route("/api/runs/{session}/python", python_code), WebSocketRoute("/ws", stream),
                Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(hosts)), Middleware(Guard, studio=studio)],
        lifespan=lifespan)
    app.state.studio = studio
    return app


# --- serving ---------------------------------------------------------------------------------
LOOPBACK = ("127.0.0.1", "localhost")


def listening_socket(host, port):
    """A listening socket on (host, port); port 0 takes a free one."""
    import socket

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
        sock.listen(128)  # from here on, a browser's connection waits for the server instead of failing
    except OSError:
        sock.close()
        raise
    return sock


def serve(catalog, host="127.0.0.1", port=0, open_browser=True, max_runs=4, say=print, lesson=None):
    """Serve the studio until Ctrl-C; ``say`` prints its address (with the token), which
    opens ``lesson`` (a name in :data:`~neuronet.studio.lessons.LESSONS`) when one is given."""
    import threading
    import webbrowser

    import uvicorn

    sock = listening_socket(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    shown = "127.0.0.1" if host in LOOPBACK else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/?token={token}" + (f"#lesson={lesson}" if lesson else "")
    app = create_app(token, catalog, hosts=LOOPBACK if host in LOOPBACK else ("*",), max_runs=max_runs)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=MAX_MESSAGE, lifespan="on",
                                           timeout_graceful_shutdown=2, limit_concurrency=64))
    say(f"neuronet studio: {url}")
    say("Ctrl-C stops it.")

    def open_when_started():
        for _ in range(200):
            if server.started:
                webbrowser.open(url)
                return
            threading.Event().wait(0.05)

    if open_browser:
        threading.Thread(target=open_when_started, daemon=True).start()
    server.run(sockets=[sock])
