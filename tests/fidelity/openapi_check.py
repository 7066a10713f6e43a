"""Validates recorded responses against HubSpot's OpenAPI specs with openapi-core.

Every spec in ../shared/hubspot/openapi whose paths contain the request's operation must accept
the response. One deliberate, documented patch is applied to the specs in memory:

* `properties` of CRM objects maps names to `string`, but HubSpot's live API returns `null` for a
  requested property that has no value (and the official clients model it as optional). The
  sandbox does the same, so those map values are made nullable.

One normalisation makes errors checkable at all: HubSpot's shared `Error` response is declared
for media type `*/*`, which openapi-core compares as opaque bytes. Since `application/json` is a
`*/*` type, the declaration is rewritten to `application/json` so error bodies are validated
against the `Error` schema. Likewise `content: {}` (no body, as on 204s) is dropped, because
openapi-core treats any `content` key as "a body is required".
"""

import copy
import json
import os
import re
from collections import defaultdict
from urllib.parse import parse_qsl, urlsplit

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

PATCHES = [
    "SimplePublicObject*.properties values: nullable (HubSpot returns null for unset requested properties)",
    "responses declared as */* are validated as application/json",
    "empty `content: {}` (no body, e.g. 204) is dropped so openapi-core does not demand a body",
]


def spec_dir(root):
    return os.environ.get("HUBSPOT_OPENAPI_DIR") or os.path.normpath(os.path.join(root, "..", "shared", "hubspot", "openapi"))


def _json_star(node):
    if isinstance(node, dict):
        content = node.get("content")
        if content == {}:
            # `content: {}` means "no body"; openapi-core would demand one.
            del node["content"]
        elif isinstance(content, dict) and "*/*" in content and "application/json" not in content:
            content["application/json"] = content.pop("*/*")
        for v in node.values():
            _json_star(v)
    elif isinstance(node, list):
        for v in node:
            _json_star(v)


def _patch(spec):
    _json_star(spec.get("components", {}).get("responses", {}))
    for item in spec.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict):
                _json_star(op.get("responses", {}))
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        props = schema.get("properties", {})
        if name.startswith("SimplePublic") and "properties" in props:
            ap = props["properties"].get("additionalProperties")
            if isinstance(ap, dict) and ap.get("type") == "string":
                ap["nullable"] = True
    return spec


def _template_regex(path):
    return re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")


class Validator:
    def __init__(self, directory, base_url):
        self.specs = []
        for fname in sorted(os.listdir(directory)):
            if not fname.endswith(".json"):
                continue
            with open(os.path.join(directory, fname)) as f:
                raw = json.load(f)
            spec = _patch(copy.deepcopy(raw))
            spec["servers"] = [{"url": base_url}]
            ops = []
            for path, item in spec["paths"].items():
                for method in item:
                    if method in ("get", "post", "put", "patch", "delete"):
                        ops.append((method.upper(), path, _template_regex(path)))
            self.specs.append((fname, spec, ops, None))
        self.base_url = base_url

    def _api(self, i):
        fname, spec, ops, api = self.specs[i]
        if api is None:
            api = OpenAPI.from_dict(spec)
            self.specs[i] = (fname, spec, ops, api)
        return api

    def matching(self, method, path):
        # HubSpot's Python client calls `/crm/v3/owners/`; the spec (and HubSpot) say `/crm/v3/owners`.
        path = path.rstrip("/") or "/"
        out = []
        for i, (fname, _spec, ops, _api) in enumerate(self.specs):
            # Prefer the most specific template: fewest parameters.
            cands = [p for (m, p, rx) in ops if m == method and rx.match(path)]
            if cands:
                out.append((i, fname, min(cands, key=lambda p: p.count("{"))))
        return out

    def validate(self, ex):
        """Returns (operations matched, list of failure strings)."""
        u = urlsplit(ex.url)
        path = u.path.rstrip("/") or "/"
        matches = self.matching(ex.method, path)
        failures = []
        for i, fname, template in matches:
            req = MockRequest(self.base_url, ex.method, path, path_pattern=template, args=parse_qsl(u.query), data=ex.request_body,
                              headers=ex.request_headers, content_type=ex.request_headers.get("Content-Type", "application/json"))
            ctype = ex.response_headers.get("content-type", "application/json").split(";")[0].strip()
            resp = MockResponse(ex.response_body, status_code=ex.status, headers=ex.response_headers, content_type=ctype)
            try:
                self._api(i).validate_response(req, resp)
            except Exception as e:  # noqa: BLE001 - report every validation problem
                detail = str(e)
                for sub in getattr(e, "schema_errors", None) or getattr(getattr(e, "__cause__", None), "schema_errors", None) or []:
                    detail += f"\n      - {getattr(sub, 'message', sub)} at {list(getattr(sub, 'path', []))}"
                failures.append(f"{ex.method} {path} -> {ex.status} against {fname} {template}: {type(e).__name__}: {detail}\n      body: {ex.response_body[:400]!r}")
        return [(fname, template) for _, fname, template in matches], failures


def validate_all(exchanges, directory, base_urls, per_operation=5):
    """Validates up to `per_operation` responses per (method, template, status)."""
    by_base = {b: Validator(directory, b) for b in base_urls}
    seen = defaultdict(int)
    validated, unmatched, failures = [], [], []
    for ex in exchanges:
        base = next((b for b in base_urls if ex.url.startswith(b)), None)
        if base is None:
            continue
        v = by_base[base]
        path = urlsplit(ex.url).path.rstrip("/") or "/"
        matches = v.matching(ex.method, path)
        if not matches:
            unmatched.append(f"{ex.method} {path}")
            continue
        key = (ex.method, matches[0][2], ex.status)
        seen[key] += 1
        if seen[key] > per_operation:
            continue
        ops, fails = v.validate(ex)
        validated.append((ex.method, matches[0][2], ex.status))
        failures.extend(fails)
    return validated, unmatched, failures
