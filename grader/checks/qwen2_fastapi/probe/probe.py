"""Probe for qwen2_fastapi, run inside the sandbox: start the student's api.py as `python api.py`
would, and call it over HTTP.

The main thread runs api.py as __main__ (uvicorn's signal handlers need the main thread); a client
thread learns from uvicorn where the server listens, POSTs the judge's questions (one with a
history) and records, as data: each HTTP status and JSON body, the generate calls made during each
request (prompt ids, arguments, seed, output ids), and every model and tokenizer load with the number
of requests sent before it. The sandbox has its own network namespace: only its loopback exists.
The judge replays every generate call itself.
"""
import http.client
import json
import logging
import os
import runpy
import sys
import threading
import time

from _probe_common import (Recorder, check_source, describe_error, finish, probe_main,
                           record_generate, record_loads)
from run_clock import RunClock

import torch  # noqa: E402  (before student code, so a shadow module cannot replace it)
import transformers  # noqa: E402
import uvicorn  # noqa: E402

PORT = 6006            # the course's port, where the grader serves an `app` nobody served
MAX_BODY = 256 * 1024  # what is kept of a response body
CLOCK = RunClock()     # the probe's limits count its running, not its wait for a CPU others held


def end_answers(calls: list, end_after: list[int]) -> None:
    """The grading override (the judge's cpu Grading): each answer ends with the end token after the
    judge's number of new tokens. A random stand-in seldom ends by itself, and only an answer that
    ends with a special token shows whether the student skipped special tokens. The tokens before
    that are exactly those an unforced generate gives, so the judge replays it with
    max_new_tokens = that number - 1 and decodes the same text."""
    if not end_after:
        return
    recorded = transformers.GenerationMixin.generate   # record_generate's wrapper, around the real one

    class EndAfter(transformers.LogitsProcessor):
        def __init__(self, stop_at: int, eos: int):
            self.stop_at, self.eos = stop_at, eos

        def __call__(self, input_ids, scores):
            if input_ids.shape[-1] >= self.stop_at:
                scores = torch.full_like(scores, float("-inf"))
                scores[:, self.eos] = 0.0
            return scores

    def generate(self, *args, **kwargs):
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        eos = self.generation_config.eos_token_id
        eos = eos[0] if isinstance(eos, (list, tuple)) else eos
        if input_ids is not None and eos is not None:
            k = end_after[len(calls) % len(end_after)]
            processors = transformers.LogitsProcessorList(kwargs.get("logits_processor") or [])
            processors.append(EndAfter(input_ids.shape[-1] + k - 1, eos))
            kwargs["logits_processor"] = processors
        return recorded(self, *args, **kwargs)

    transformers.GenerationMixin.generate = generate


class ServerLog(logging.Handler):
    """uvicorn's own errors (a port in use, a failing start-up, an exception in the endpoint), for the student."""

    def __init__(self):
        super().__init__(logging.WARNING)   # "You must pass the application as an import string" is a warning
        self.errors: list[str] = []

    def emit(self, record):
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + describe_error(record.exc_info[1])
        self.errors = (self.errors + [text[-3000:]])[-3:]

    def wait_for_error(self, timeout_s: float) -> None:
        """Until an error is logged (since errors were last cleared), or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not self.errors and time.monotonic() < deadline:
            time.sleep(0.05)


def watch_uvicorn(server: dict, ready: threading.Event, log: ServerLog) -> None:
    """Learn where the student's server listens: uvicorn.Config says where it was asked to, and
    Server.startup (uvicorn.run, Server.run and `await server.serve()` all pass there) says when
    it is listening and on which address."""
    config_init = uvicorn.Config.__init__
    startup = uvicorn.Server.startup

    def init(self, app, *args, **kwargs):
        if isinstance(app, str) and (kwargs.get("reload") or (kwargs.get("workers") or 1) > 1):
            # uvicorn.run("api:app", reload=True) serves from a child process, where none of the
            # grader's recording reaches: one process serves the same app the same way
            kwargs.update(reload=False, workers=1)
            server["one_process"] = True
        config_init(self, app, *args, **kwargs)
        server["configured"] = {"host": self.host, "port": self.port}
        on_loopback(self)
        own_port(self)
        logging.getLogger("uvicorn.error").addHandler(log)   # after uvicorn's own logging set-up

    async def started(self, *args, **kwargs):
        await startup(self, *args, **kwargs)
        if self.started and getattr(self, "servers", None):
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            server["listening"] = {"host": host, "port": port}
            ready.set()

    uvicorn.Config.__init__ = init
    uvicorn.Server.startup = started


# the addresses that mean "this machine" as the course writes them: served on loopback as they are
LOCAL_HOSTS = {"", "0.0.0.0", "::", "127.0.0.1", "::1", "localhost"}


def on_loopback(config) -> None:
    """Every server listens on loopback, whatever address the code names: the tutorial's 0.0.0.0,
    the container's own address it was written on (AutoDL's 172.17.x.x), a LAN address, a host
    name. None of those exists in the sandbox (uvicorn would exit on the bind), and the grader
    never listens on the machine's real addresses: only the probe's client connects, on loopback."""
    from hooks import course_env
    host = str(config.host or "")
    config.host = "127.0.0.1"
    if host not in LOCAL_HOSTS:
        course_env.record("server_host", f"服务地址 {host[:60]} 换成本机回环地址 127.0.0.1（评分时只有它）",
                          f"the server's address {host[:60]} is served on loopback, 127.0.0.1 (the only one "
                          f"there is while grading)")


def own_port(config) -> None:
    """Without a network namespace (GRADER_PORTS), the port the code asks for (the course's 6006)
    could be taken by another grading at the same time: the server takes this run's own. With one,
    the port asked for is kept where it can be bound, else (a port below 1024, one the code itself
    holds) a free one is taken."""
    import socket

    from hooks import course_env
    ports = course_env.own_ports()
    if len(ports) > 1 and config.port != ports[1]:
        config.port = ports[1]
        course_env.record("server_port", "服务端口换成本次评分专用的端口（此沙箱模式没有独立网络）",
                          "the server listens on this grading's own port (this sandbox mode has no network namespace)")
        return
    with socket.socket() as probe:
        try:
            probe.bind((config.host, int(config.port)))
            return
        except (OSError, OverflowError, TypeError, ValueError):
            probe.bind((config.host, 0))
            asked, config.port = config.port, probe.getsockname()[1]
    course_env.record("server_port", f"端口 {str(asked)[:20]} 无法使用，服务换到空闲端口 {config.port}",
                      f"port {str(asked)[:20]} cannot be bound here: the server listens on free port {config.port}")


def client_address(host: str) -> str:
    """Where a client on the same machine reaches a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def post(address: tuple[str, int], body: dict, timeout: float) -> dict:
    """POST / with a JSON body; the status and the body (as JSON when it is JSON)."""
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        connection.request("POST", "/", body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        raw = response.read(MAX_BODY + 1)
    finally:
        connection.close()
    text = raw[:MAX_BODY].decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return {"status": response.status, "json": data, "text": None if data is not None else text[:3000]}


def evidence(rec: Recorder, loads: list, calls: list) -> None:
    """The loads and generate calls so far: after each request, so a server that kills the process keeps them."""
    rec.note("loads", list(loads))
    rec.note("generate_calls", list(calls))


def post_within(address: tuple[str, int], body: dict, timeout: float) -> dict:
    """post(), all of it within ``timeout``: a socket's own timeout restarts with every byte that trickles in."""
    outcome = {}

    def work():
        try:
            outcome["reply"] = post(address, body, timeout)
        except BaseException as exc:  # reported below, in the client's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError
    if "error" in outcome:
        raise outcome["error"]
    return outcome["reply"]


def ask(given: dict, rec: Recorder, sent: dict, loads: list, calls: list, server: dict, ready: threading.Event,
        main_done: threading.Event, log: ServerLog) -> None:
    """The client: wait for the server, send each request, record what came back."""
    while not ready.wait(0.2):   # until it listens, nothing will start it, or time is up
        nothing_will = main_done.is_set() and ("configured" not in server or "error" in server)
        if nothing_will or CLOCK.over(given["serve_s"]):
            break
    if not ready.is_set():
        rec.fail("serve", not_serving(given, server, main_done, log))
        return
    rec.note("serve", {**server["listening"], "started_by": server.get("started_by", "student"),
                       "one_process": server.get("one_process", False)})
    address = (client_address(server["listening"]["host"]), server["listening"]["port"])
    for i, body in enumerate(given["requests"]):
        limit = min(given["request_s"], given["serve_s"] - CLOCK.elapsed())   # seconds of running
        before, started = len(calls), CLOCK.elapsed()
        sent["requests"] += 1
        log.errors = []
        try:
            if limit <= 0 or CLOCK.over(given["serve_s"]):
                raise TimeoutError
            reply = post_within(address, body, CLOCK.stretched(limit))
        except (TimeoutError, OSError, http.client.HTTPException) as exc:
            rec.fail(f"request{i}", request_error(i, exc, limit, log))
            return   # a server that hung or died answers nothing more
        reply["calls"] = list(range(before, len(calls)))   # the generate calls made while it answered
        evidence(rec, loads, calls)
        if not 200 <= reply["status"] < 300:
            if reply["status"] >= 500:   # uvicorn logs the endpoint's exception after the 500 is sent
                log.wait_for_error(2.0)
            rec.fail(f"request{i}", http_error(i, reply, log))
            return
        rec.note(f"request{i}", reply, s=CLOCK.elapsed() - started)


def not_serving(given: dict, server: dict, main_done: threading.Event, log: ServerLog) -> str:
    why = "\n".join(log.errors)
    if "error" in server:
        return (f"运行 api.py 出错，服务没有启动 / running api.py failed before the server started:\n"
                f"{server['error']}" + (f"\n{why}" if why else ""))
    if main_done.is_set():
        return ("api.py 运行结束了，却没有启动服务，也没有定义 FastAPI 的 app：请在 if __name__ == \"__main__\": 里调用 "
                "uvicorn.run(app, host=\"0.0.0.0\", port=6006)。 / api.py finished without starting a server and "
                "defines no FastAPI `app`: call uvicorn.run(app, host=\"0.0.0.0\", port=6006) under "
                "if __name__ == \"__main__\":." + (f"\n{why}" if why else ""))
    return (f"{given['serve_s']:.0f} 秒内服务没有开始监听（加载模型卡住了，或者没有调用 uvicorn.run？） / the server was not "
            f"listening within {given['serve_s']:.0f} s (is loading stuck, or is uvicorn.run never called?)"
            + (f"\n{why}" if why else ""))


def request_error(i: int, exc: BaseException, timeout: float, log: ServerLog) -> str:
    why = "\n".join(log.errors)
    if isinstance(exc, TimeoutError):
        text = (f"第 {i + 1} 个请求在 {max(timeout, 0):.0f} 秒内没有得到回答（接口卡住了吗？） / request {i + 1}: "
                f"no answer within {max(timeout, 0):.0f} s (does the endpoint hang?)")
    else:
        text = (f"第 {i + 1} 个请求失败：{exc!r}（服务崩溃或关闭了？） / request {i + 1} failed: {exc!r} "
                f"(did the server crash or stop?)")
    return text + (f"\n{why}" if why else "")


def http_error(i: int, reply: dict, log: ServerLog) -> str:
    why = "\n".join(log.errors) or reply["text"] or json.dumps(reply["json"], ensure_ascii=False)[:2000]
    route_zh, route_en = ("接口要用 @app.post(\"/\")。", " The endpoint is @app.post(\"/\").") \
        if reply["status"] in (404, 405) else ("", "")
    return (f"第 {i + 1} 个请求（POST /）得到 HTTP {reply['status']}，应为 200。{route_zh}服务端的错误： / "
            f"request {i + 1} (POST /) got HTTP {reply['status']}, not 200.{route_en} The server said:\n{why}")


def serve(path, server: dict) -> None:
    """`python api.py`; a module that defines `app` but serves nothing (it is meant for the
    `uvicorn api:app` command) is served by the grader, as that command would."""
    names = runpy.run_path(str(path), run_name="__main__")
    if "configured" not in server and callable(names.get("app")):
        server["started_by"] = "grader"
        uvicorn.run(names["app"], host="127.0.0.1", port=PORT, log_level="warning")


def serve_and_ask(rec: Recorder, given: dict) -> None:
    path = check_source("api.py", rec, "serve")
    if path is None:
        return
    torch.set_num_threads(1)  # the judge replays generation single-threaded: same arithmetic
    sent = {"requests": 0}
    loads = record_loads(lambda: {"requests_before": sent["requests"]})   # a load per request shows
    calls = record_generate(given["seeds"])
    end_answers(calls, given["end_after"])
    server, ready, main_done, log = {}, threading.Event(), threading.Event(), ServerLog()
    watch_uvicorn(server, ready, log)
    os.chdir(path.parent)
    sys.path.insert(0, str(path.parent))   # as `python api.py` has it (uvicorn.run("api:app") imports it)
    sys.argv = [str(path)]

    def client():
        try:
            ask(given, rec, sent, loads, calls, server, ready, main_done, log)
        finally:
            evidence(rec, loads, calls)
            finish(rec)   # the server never returns by itself

    worker = threading.Thread(target=client, daemon=True)
    worker.start()
    try:
        serve(path, server)
    except BaseException as exc:  # SystemExit too: uvicorn exits when it cannot bind or start
        server["error"] = describe_error(exc)
    main_done.set()
    worker.join()   # a server in a student's thread may still be answering; the client ends the process


if __name__ == "__main__":
    probe_main({"serve": serve_and_ask})
