"""Records every HTTP exchange HubSpot's client makes (it talks through urllib3), so the
responses can be validated against HubSpot's OpenAPI specs afterwards."""

import threading
from dataclasses import dataclass, field
from typing import List, Optional

import urllib3


@dataclass
class Exchange:
    method: str
    url: str
    request_headers: dict
    request_body: Optional[bytes]
    status: int
    response_headers: dict
    response_body: bytes
    tags: List[str] = field(default_factory=list)


class Recorder:
    def __init__(self):
        self.exchanges: List[Exchange] = []
        self._lock = threading.Lock()
        self._orig = None

    def install(self):
        if self._orig is not None:
            return
        orig = urllib3.PoolManager.urlopen
        self._orig = orig
        rec = self

        def urlopen(pm, method, url, redirect=True, **kw):
            resp = orig(pm, method, url, redirect=redirect, **kw)
            body = kw.get("body")
            if isinstance(body, str):
                body = body.encode()
            data = resp.data if kw.get("preload_content", True) else b""
            with rec._lock:
                rec.exchanges.append(Exchange(
                    method=method.upper(),
                    url=url,
                    request_headers=dict(kw.get("headers") or {}),
                    request_body=body,
                    status=resp.status,
                    response_headers={k.lower(): v for k, v in resp.headers.items()},
                    response_body=data or b"",
                ))
            return resp

        urllib3.PoolManager.urlopen = urlopen

    def uninstall(self):
        if self._orig is not None:
            urllib3.PoolManager.urlopen = self._orig
            self._orig = None


RECORDER = Recorder()
