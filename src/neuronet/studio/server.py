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
  datasets only by key: paths come from the command line alone;
* each tab trains in one thread at most, and the server in ``max_runs``; settings whose
  training would take more memory than ``max_memory`` (estimated before the run starts,
  see :meth:`~neuronet.studio.settings.Settings.memory_needed`) are refused in the page;
* a connection that has not sent a whole request head within ``HEAD_TIMEOUT`` seconds is
  closed, a head over ``MAX_HEAD`` bytes is refused (400), and idle connections block no
  one: nothing caps the number of connections, they only time out;
* the browser is opened on a private redirect file, not on the address itself, so the
  token never appears on a command line (which every user of the machine can read).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import html
import json
import os
import secrets
import shutil
import tempfile
from numbers import Integral, Real
from urllib.parse import quote

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
MAX_HEAD = 64 * 1024           # bytes of a request's line and headers
HEAD_TIMEOUT = 10              # seconds a connection has to send a whole request head
MAX_MEMORY = 10**9             # bytes one run may take (neuronet studio --max-memory)
OUTBOX = 64                    # messages waiting for a page that does not read: then the tab is closed
SHOWN = 60                     # characters of a value echoed in an error message
ANSWER_SECONDS = 30            # the most a download waits for its run to answer
STATIC = os.path.join(os.path.dirname(__file__), "static")
NO_TOKEN = ("This studio needs its token: open the address that `neuronet studio` printed in its terminal "
            "(http://…/?token=…).")
WRONG_TOKEN = "Wrong token: open the address that `neuronet studio` printed in its terminal."
COMMANDS = {"play": None, "pause": None, "reset": None,
            "step": [StrOptions({"batch", "epoch"})],
            "speed": [Interval(Real, 0.1, 10_000, closed="both"), None],  # steps a second; None: no pause
            "example": [Interval(Integral, 0, None, closed="left")],
            "threshold": [Interval(Real, 0, 1, closed="neither")],
            "sample": [Interval(Integral, 0, None, closed="left"), None],
            "episode": None}  # CartPole: play one greedy episode of the policy now


class Studio:
    """What the server shares: the token, the datasets, the open sessions (one a tab) and
    the runs whose threads still train or finish their last minibatch."""

    def __init__(self, token, catalog, max_runs, max_memory=MAX_MEMORY):
        self.token, self.catalog, self.max_runs, self.max_memory = token, catalog, max_runs, max_memory
        self.cookie = "neuronet-studio-" + hashlib.sha256(token.encode()).hexdigest()[:12]
        self.sessions = {}
        self.runs = set()

    def has_room(self):
        """Fewer than ``max_runs`` run threads alive (a stopped run counts until its thread ends)."""
        self.runs = {run for run in self.runs if run.thread.is_alive()}
        return len(self.runs) < self.max_runs

    def memory_needed(self, settings):
        """The bytes a run of ``settings`` would take (see ``Settings.memory_needed``); 0 for
        data that does not load (the run then says why)."""
        try:
            return settings.memory_needed(*self.catalog.sizes(settings.recipe))
        except (ValueError, OSError):
            return 0

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
                    headers={"content-disposition": attachment(name)})


def attachment(name):
    """The Content-Disposition of a download named ``name`` (any Unicode): the name in UTF-8,
    percent-encoded (RFC 6266, ``filename*``), and for older browsers an ASCII ``filename``
    where every other character, quote, backslash and control character is a ``_``."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def python_code(request):
    """The tab's run as a Python script."""
    answer, refusal = await _answer(request, "python")
    return refusal if refusal is not None else PlainTextResponse(answer)


# --- the WebSocket: one session per tab ------------------------------------------------------
class Session:
    """One tab: its WebSocket, its run, and the outbox of messages for the page.

    The run publishes from its thread; each message is encoded there and handed to the
    event loop. A snapshot is dropped when two messages already wait (a slow page sees
    fewer frames, and training never waits for it); other messages always go, up to
    ``OUTBOX`` of them: a page that reads nothing while that many wait is closed.

    A tab has one run thread at most. New settings (or a reset) become the pending ones,
    replacing any that wait; the session checks their memory, stops the current run,
    waits for its thread to end and for room among the server's ``max_runs`` threads,
    and only then starts the run of the newest settings, handing it the commands (play,
    step…) sent after them.
    """

    def __init__(self, studio, websocket):
        self.studio, self.websocket = studio, websocket
        self.id = secrets.token_urlsafe(12)
        self.run = self.settings = self.pending = self.starting = None
        self.speed = None
        self.waiting = collections.deque(maxlen=OUTBOX)  # commands sent for the pending settings' run
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
        if self.closed or (droppable and self.outbox.qsize() >= 2):
            return
        if self.outbox.qsize() >= OUTBOX:  # the page reads nothing: it gets nothing more
            self.close()
            return
        self.outbox.put_nowait(text)

    def send(self, message):
        self._enqueue(json.dumps(message), False)

    async def serve(self):
        self.send({"type": "hello", "session": self.id, "datasets": self.studio.catalog.describe(),
                   "defaults": DEFAULTS, "kind_defaults": KIND_DEFAULTS})
        sender = asyncio.create_task(self._send_all())
        try:
            while not self.closed:
                message = await self.websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    return await self.websocket.close(code=1003, reason="the studio takes JSON text messages")
                if len(text.encode()) > MAX_MESSAGE:
                    return await self.websocket.close(code=1009, reason=f"messages are at most {MAX_MESSAGE} bytes")
                self.handle(text)
            await self.websocket.close(code=1008, reason=f"over {OUTBOX} messages waited unread")
        finally:
            sender.cancel()
            self.close()

    async def _send_all(self):
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await self.websocket.send_text(await self.outbox.get())

    def handle(self, text):
        """One message from the page; a bad one is answered with one message, never a
        traceback: ``invalid`` for one that cannot be read (its ``errors`` under "message")
        or whose value does not fit (under the command's name), ``error`` for an unknown
        type or a command before any settings."""
        message, problem = parsed(text)
        if problem is not None:  # not JSON, nested past reason, or a number no float holds
            return self.send({"type": "invalid", "errors": {"message": problem}})
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "settings":
            return self._new_settings(message.get("settings"))
        if kind not in COMMANDS:
            return self.send({"type": "error", "message": f"unknown message type {shown(kind)}; known: "
                                                          f"settings, {', '.join(COMMANDS)}"})
        value = message.get("value")
        if COMMANDS[kind] is not None:
            try:
                check_parameter("value", value, COMMANDS[kind], f"the {kind} command")
            except InvalidParameterError as error:  # a value out of range, or a number no float holds
                return self.send({"type": "invalid", "errors": {kind: shortened(str(error))}})
        if self.settings is None and self.pending is None:
            return self.send({"type": "error", "message": f"{kind}: no run yet; send the settings first"})
        if kind == "reset":
            return self._replace(self.pending or self.settings)
        if kind == "episode" and not (self.pending or self.settings).reinforcement:
            return self.send({"type": "error", "message": "episode: only CartPole plays episodes"})
        if kind == "speed":
            self.speed = value
        if self.pending is not None:  # for the run of the pending settings
            self.waiting.append((kind, value))
        elif self.run is not None:
            self.run.command(kind, value)

    def _new_settings(self, raw):
        try:
            settings = read_settings(raw, self.studio.catalog)
        except SettingsError as error:
            return self.send({"type": "invalid", "errors": {field: shortened(text)
                                                            for field, text in error.errors.items()}})
        self._replace(settings)

    def _replace(self, settings):
        """Make ``settings`` the next run's, in place of any that wait (and of the commands
        sent for them: the commands sent from now on are for the run of ``settings``)."""
        self.pending = settings
        self.waiting.clear()
        if self.starting is None or self.starting.done():
            self.starting = asyncio.ensure_future(self._start_pending())

    async def _start_pending(self):
        while self.pending is not None and not self.closed:
            settings = self.pending
            needed = await run_in_threadpool(self.studio.memory_needed, settings)
            if settings is not self.pending:
                continue  # newer settings came meanwhile: they go instead
            if needed > self.studio.max_memory:
                self.pending = None
                self.waiting.clear()
                return self.send({"type": "invalid", "errors": {"batch_size": too_large(needed, self.studio)}})
            if self.run is not None:
                self.run.stop()
            while (self.run is not None and self.run.thread.is_alive()) or not self.studio.has_room():
                await asyncio.sleep(0.02)
            if self.closed or settings is not self.pending:
                continue
            self.pending = None
            self._start(settings)

    def _start(self, settings):
        self.settings = settings
        self.run = (CartPoleRun if settings.reinforcement else Run)(settings, self.studio.catalog, self.publish)
        self.run.command("speed", self.speed)
        while self.waiting:
            self.run.command(*self.waiting.popleft())
        self.send({"type": "preparing", "run": self.run.number, "dataset": settings.recipe.dataset})
        self.studio.runs.add(self.run.start())

    def close(self):
        self.closed = True
        if self.starting is not None:
            self.starting.cancel()
        if self.run is not None:
            self.run.stop()
        self.studio.sessions.pop(self.id, None)


def parsed(text):
    """(the message, None), or (None, why it cannot be read): not JSON, nested too deep, or
    a number too long to read. (A number too large for a float is the settings' to refuse.)"""
    try:
        message = json.loads(text)
    except json.JSONDecodeError as error:
        return None, f"messages are JSON: {error}"
    except RecursionError:
        return None, "messages are JSON nested a few levels deep, not thousands"
    except ValueError:  # an int of more than 4300 digits
        return None, "a number in the message has too many digits"
    return message, None


def shown(value):
    """``repr(value)``, cut to ``SHOWN`` characters: an error never echoes a whole message."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def shortened(text, most=4 * SHOWN):
    return text if len(text) <= most else text[: most - 1] + "…"


def size_in_words(count):
    return f"{count / 1e9:.1f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def too_large(needed, studio):
    return (f"Training these settings would take about {size_in_words(needed)} of memory, more than the "
            f"{size_in_words(studio.max_memory)} this studio gives one run (neuronet studio --max-memory). "
            "A smaller batch size takes less, and so do fewer or smaller layers.")


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
def create_app(token, catalog, hosts=("127.0.0.1", "localhost"), max_runs=4, max_memory=MAX_MEMORY):
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
        The most tabs open at once, and the most run threads (a stopped run's thread
        counts until it has finished its minibatch).
    max_memory : int
        The most bytes one run may take, as ``Settings.memory_needed`` estimates them:
        settings that need more are refused.
    """
    studio = Studio(token, catalog, max_runs, max_memory)

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


def head_timeout_protocol(seconds=HEAD_TIMEOUT):
    """uvicorn's h11 protocol, closing a connection that has not sent a whole request head
    within ``seconds`` of connecting or of its last answer, and answering 400 to a head of
    more than ``MAX_HEAD`` bytes.

    uvicorn times a connection out only between two requests it has answered (its
    keep-alive), so one that connects and sends nothing, or a byte now and then, would
    stay open for ever; the timer here runs whenever a head is awaited.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutProtocol(H11Protocol):
        head_timeout = seconds

        def connection_made(self, transport):
            self.head_timer, self.head_bytes = None, 0
            super().connection_made(transport)
            self._await_head()

        def _await_head(self):
            self._head_arrived()
            self.head_bytes = 0
            self.head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

        def data_received(self, data):
            if self.conn.their_state is h11.IDLE:  # a head is awaited: count it, up to its blank line
                end = data.find(b"\r\n\r\n")
                self.head_bytes += len(data) if end < 0 else end + 4
                if self.head_bytes > MAX_HEAD:  # h11 alone lets a head through that came in one piece
                    return self._refuse_head()
            super().data_received(data)

        def _refuse_head(self):
            self._head_arrived()
            said = f"request heads are at most {MAX_HEAD // 1024} KB\n".encode()
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\n"
                                 b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(said), said))
            self.transport.close()

        def _head_arrived(self):
            if self.head_timer is not None:
                self.head_timer.cancel()
                self.head_timer = None

        def _head_timed_out(self):
            self.head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

        def handle_events(self):
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:  # a head has come (a request, or a WebSocket's)
                self._head_arrived()

        def on_response_complete(self):
            self._await_head()  # the next request's head: before uvicorn reads any that is waiting
            super().on_response_complete()

        def connection_lost(self, exc):
            self._head_arrived()
            super().connection_lost(exc)

    return HeadTimeoutProtocol


def server_config(app, head_timeout=HEAD_TIMEOUT):
    """uvicorn's configuration: the h11 parser, which refuses a head over ``MAX_HEAD`` bytes
    (httptools, uvicorn's other parser, would read a head without end), the head timeout,
    and no cap on connections (uvicorn's ``limit_concurrency`` counts idle connections too,
    so a few dozen of them would make every request answer 503)."""
    import uvicorn

    return uvicorn.Config(app, http=head_timeout_protocol(head_timeout), h11_max_incomplete_event_size=MAX_HEAD,
                          ws_max_size=MAX_MESSAGE, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)


@contextlib.contextmanager
def redirect_file(url):
    """A private HTML file (0600, in a private folder) that sends the browser to ``url``;
    removed on leaving. Opened instead of the address, it keeps the token off the browser's
    command line, which every user of the machine can read (/proc/PID/cmdline)."""
    folder = tempfile.mkdtemp(prefix="neuronet-studio-")  # 0700
    path = os.path.join(folder, "open-studio.html")
    address = html.escape(url, quote=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={address}">'
                         f'<title>neuronet studio</title><p><a href="{address}">Open neuronet studio</a></p>\n')
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_browser_at(path):
    """Open the redirect file ``path`` in the browser: its file:// address holds no token."""
    import pathlib
    import webbrowser

    webbrowser.open(pathlib.Path(path).as_uri())


def serve(catalog, host="127.0.0.1", port=0, open_browser=True, max_runs=4, max_memory=MAX_MEMORY,
          head_timeout=HEAD_TIMEOUT, say=print, lesson=None):
    """Serve the studio until Ctrl-C; ``say`` prints its address (with the token), which
    opens ``lesson`` (a name in :data:`~neuronet.studio.lessons.LESSONS`) when one is given."""
    import threading

    import uvicorn

    sock = listening_socket(host, port)
    port = sock.getsockname()[1]
    token = secrets.token_urlsafe(24)
    shown_host = "127.0.0.1" if host in LOOPBACK else f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{port}/?token={token}" + (f"#lesson={lesson}" if lesson else "")
    app = create_app(token, catalog, hosts=LOOPBACK if host in LOOPBACK else ("*",), max_runs=max_runs,
                     max_memory=max_memory)
    server = uvicorn.Server(server_config(app, head_timeout))
    say(f"neuronet studio: {url}")
    say("Ctrl-C stops it.")

    def open_when_started(path):
        for _ in range(200):
            if server.started:
                open_browser_at(path)
                return
            threading.Event().wait(0.05)

    with redirect_file(url) if open_browser else contextlib.nullcontext() as path:
        if open_browser:
            threading.Thread(target=open_when_started, args=(path,), daemon=True).start()
        server.run(sockets=[sock])
