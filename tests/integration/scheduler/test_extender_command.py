"""``grove scheduler-extender`` as a process: serves the extender and metrics, stops cleanly on SIGTERM,
and rejects bad flags with a message naming them."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

GROVE = str(Path(sys.executable).with_name("grove"))


async def _serving_line(stream: asyncio.StreamReader) -> dict[str, Any]:
    while True:
        line = await stream.readline()
        assert line, "the extender exited before serving"
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "extender.serving":
            return dict(record)


async def test_command_serves_and_stops_on_sigterm(cluster: Any, grove_crds_installed: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        GROVE,
        "scheduler-extender",
        "--kubeconfig",
        cluster.kubeconfig,
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--url-prefix",
        "/ext",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        async with asyncio.timeout(60):
            serving = await _serving_line(proc.stderr)
        url, metrics_port = serving["url"], serving["metrics_port"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/ext")
        async with aiohttp.ClientSession() as http:
            body = {"Pod": {"metadata": {"name": "p", "namespace": "default"}}, "NodeNames": ["n1"]}
            async with http.post(f"{url}/filter", json=body) as resp:
                assert resp.status == 200
                assert (await resp.json())["NodeNames"] == ["n1"]
            async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
                text = await resp.text()
            assert "grove_scheduler_extender_request_duration_seconds_bucket" in text
            assert "rest_client_requests_total" in text  # the runtime's metrics share the port
            async with http.get(f"http://127.0.0.1:{metrics_port}/readyz") as resp:
                assert resp.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await proc.wait()
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "70000"], "--port: must be a port number (0-65535), got 70000"),
        (["--plan-ttl", "0"], "--plan-ttl: must be > 0 seconds, got 0.0"),
        (["--url-prefix", "scheduler"], "--url-prefix: must start with '/', got 'scheduler'"),
    ],
)
def test_bad_flags_are_named(flags: list[str], message: str) -> None:
    out = subprocess.run([GROVE, "scheduler-extender", *flags], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr
