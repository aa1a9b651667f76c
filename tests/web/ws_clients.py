"""Real WebSocket clients (the `websockets` package) against a running `mstag-live --ws`.

Usage: ws_clients.py SCENARIO WS_URL PAGE_ORIGIN
Prints one JSON object with what was measured; tests/web.rs asserts on it.

Scenarios:
  rate      one client counts the scores messages of 3 seconds and checks every tag value;
            then a second client is killed mid-run (SIGKILL of a child process).
  controls  the page's origin subscribes; another origin's control is ignored; malformed,
            too many and too long controls are dropped (the last closes the connection).
  slow      one client never reads while another counts messages.
  full      connects until the server refuses (503).
  switch    from the allowed origin, asks for the device whose id is the fourth argument
            (or, with a file playing, for any device) and reports what the server said.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time

import websockets

SCENARIO, URL, ORIGIN = sys.argv[1], sys.argv[2], sys.argv[3]


def scores_of(m):
    return {v: m[v] for v in ("session", "window", "ema") if v in m}


async def hello(ws):
    m = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert "hello" in m, m
    return m["hello"]


async def count(ws, seconds):
    """Scores messages in `seconds`, and the values seen."""
    n, tags, lo, hi, t0 = 0, set(), 1.0, 0.0, None
    events = []
    while t0 is None or time.monotonic() - t0 < seconds:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if "cue" in m or "top_changed" in m:
            events.append(m)
            continue
        if "t" not in m:
            continue
        # Counted from the first scores (none come before the first segment is analysed).
        if t0 is None:
            t0 = time.monotonic()
            continue
        n += 1
        for view in scores_of(m).values():
            tags.add(len(view))
            vals = [x for x in view.values()]
            lo = min([lo] + vals)
            hi = max([hi] + vals)
    return {"messages": n, "seconds": seconds, "tag_counts": sorted(tags), "min": lo, "max": hi,
            "events": events}


async def rate():
    async with websockets.connect(URL) as ws:
        h = await hello(ws)
        out = await count(ws, 3.0)
        out["hello_tags"] = len(h["tags"])
        out["control"] = h["control"]
    # A client that dies without closing: a child process killed while it reads.
    child = subprocess.Popen(
        [sys.executable, __file__, "reader", URL, ORIGIN], stdout=subprocess.PIPE
    )
    line = child.stdout.readline()  # it has connected and read a message
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    out["killed_client_read"] = line.decode().strip()
    # Others go on receiving.
    async with websockets.connect(URL) as ws:
        h = await hello(ws)
        after = await count(ws, 1.0)
    out["after_kill"] = after["messages"]
    out["late_hello_cues"] = h["cues"]
    return out


async def reader():
    async with websockets.connect(URL) as ws:
        await hello(ws)
        await ws.recv()
        print("reading", flush=True)
        while True:
            await ws.recv()


async def controls():
    out = {}
    # Another origin: connected (scores still come), its control ignored.
    async with websockets.connect(URL, origin="http://evil.example") as ws:
        h = await hello(ws)
        out["foreign_control_flag"] = h["control"]
        await ws.send(json.dumps({"view": "ema", "top": 3}))
        m = await next_scores(ws, skip=3)
        out["foreign_views"] = sorted(scores_of(m))
        out["foreign_tags"] = len(m["window"])
    # The page's origin: subscribed.
    async with websockets.connect(URL, origin=ORIGIN) as ws:
        h = await hello(ws)
        out["page_control_flag"] = h["control"]
        await ws.send(json.dumps({"view": "ema", "top": 3}))
        reply = await next_matching(ws, lambda m: "subscribed" in m)
        out["subscribed"] = reply["subscribed"]
        m = await next_scores(ws, skip=1)
        out["page_views"] = sorted(scores_of(m))
        ema = list(m["ema"].items())
        out["page_top"] = [k for k, _ in ema]
        out["page_top_sorted"] = all(ema[i][1] >= ema[i + 1][1] for i in range(len(ema) - 1))
        # Malformed: dropped, the connection stays.
        for bad in ["top 5", '{"view":"loudest"}', '{"volume":11}', "[]"]:
            await ws.send(bad)
        await ws.send(b"\x00\x01")
        m = await next_scores(ws, skip=1)
        out["after_malformed_views"] = sorted(scores_of(m))
        # Too many: 40 at once, 10 a second allowed (a burst of 10, full again after 1 s).
        await asyncio.sleep(1.2)
        for k in range(40):
            await ws.send(json.dumps({"view": "window", "top": 1 + k % 5}))
        replies = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
            except asyncio.TimeoutError:
                continue
            replies += "subscribed" in m
        out["replies_to_40"] = replies
    # Too long: the server closes the connection.
    async with websockets.connect(URL, origin=ORIGIN, max_size=None) as ws:
        await hello(ws)
        await ws.send(json.dumps({"device": "x" * 5000}))
        closed = False
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:
                await asyncio.wait_for(ws.recv(), 3)
        except websockets.ConnectionClosed as e:
            closed = True
            out["close_code"] = e.rcvd.code if e.rcvd else None
        out["oversized_closed"] = closed
    return out


async def next_matching(ws, pred, limit=200):
    for _ in range(limit):
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if pred(m):
            return m
    raise AssertionError("no matching message")


async def next_scores(ws, skip=0):
    """The scores message after `skip` others (so that a control has taken effect)."""
    for _ in range(skip):
        await next_matching(ws, lambda m: "t" in m and "cue" not in m)
    return await next_matching(ws, lambda m: "t" in m and "cue" not in m and "top_changed" not in m)


async def slow():
    host, port = URL[len("ws://"):].rsplit(":", 1)
    # A raw client that completes the handshake and then never reads (with a small receive
    # buffer, set before connecting so that the window stays small).
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((host.strip("[]"), int(port)))
    s.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    async with websockets.connect(URL) as ws:
        await hello(ws)
        out = await count(ws, 8.0)
    s.close()
    return out


async def full():
    conns, refused = [], None
    for _ in range(10):
        try:
            ws = await websockets.connect(URL)
            await hello(ws)
            conns.append(ws)
        except websockets.InvalidStatus as e:
            refused = e.response.status_code
            break
    out = {"connected": len(conns), "refused_status": refused}
    for ws in conns:
        await ws.close()
    await asyncio.sleep(0.5)
    # A place is free again.
    async with websockets.connect(URL) as ws:
        await hello(ws)
        out["after_close"] = True
    return out


async def switch():
    want = sys.argv[4] if len(sys.argv) > 4 else "alsa:pulse"
    async with websockets.connect(URL, origin=ORIGIN) as ws:
        h = await hello(ws)
        before = await next_scores(ws)
        await ws.send(json.dumps({"device": want}))
        answer = await next_matching(ws, lambda m: "input" in m or "error" in m)
        after = [await next_scores(ws) for _ in range(40)]
    return {
        "devices": h["devices"],
        "input_before": h["input"],
        "answer": answer,
        "t_before": before["t"],
        "t_after": after[-1]["t"],
        "final_or_not": [m["final"] for m in after][-1],
    }


if SCENARIO == "reader":
    asyncio.run(reader())
else:
    result = asyncio.run({"rate": rate, "controls": controls, "slow": slow, "full": full,
                          "switch": switch}[SCENARIO]())
    print(json.dumps(result))
