"""Every recorded response of the exercised operations validates against HubSpot's OpenAPI specs.

Runs last (file order): it checks the traffic recorded by the other tests."""

import os

from conftest import BASE_URLS, ROOT
from openapi_check import PATCHES, spec_dir, validate_all
from recorder import RECORDER

REQUIRED = {
    ("POST", "/oauth/v1/token"),
    ("GET", "/oauth/v1/access-tokens/{token}"),
    ("GET", "/crm/v3/objects/contacts"),
    ("POST", "/crm/v3/objects/contacts"),
    ("GET", "/crm/v3/objects/contacts/{contactId}"),
    ("PATCH", "/crm/v3/objects/contacts/{contactId}"),
    ("DELETE", "/crm/v3/objects/contacts/{contactId}"),
    ("POST", "/crm/v3/objects/contacts/merge"),
    ("POST", "/crm/v3/objects/contacts/batch/read"),
    ("POST", "/crm/v3/objects/contacts/batch/create"),
    ("POST", "/crm/v3/objects/contacts/batch/update"),
    ("POST", "/crm/v3/objects/contacts/batch/upsert"),
    ("POST", "/crm/v3/objects/contacts/search"),
    ("GET", "/crm/v3/properties/{objectType}"),
    ("POST", "/crm/v3/properties/{objectType}"),
    ("GET", "/crm-object-schemas/v3/schemas"),
    ("GET", "/crm/v3/owners"),
    ("GET", "/crm/v4/objects/{objectType}/{objectId}/associations/{toObjectType}"),
    ("POST", "/crm/v4/associations/{fromObjectType}/{toObjectType}/batch/read"),
    ("PUT", "/webhooks/v3/{appId}/settings"),
    ("POST", "/webhooks/v3/{appId}/subscriptions"),
    ("POST", "/files/v3/files"),
    ("GET", "/files/v3/files/{fileId}"),
    ("GET", "/files/v3/files/{fileId}/signed-url"),
    ("DELETE", "/files/v3/files/{fileId}"),
}


def test_recorded_responses_validate_against_openapi():
    d = spec_dir(ROOT)
    assert os.path.isdir(d), f"OpenAPI specs not found at {d}"
    validated, unmatched, failures = validate_all(RECORDER.exchanges, d, BASE_URLS)
    print(f"\nvalidated {len(validated)} responses over {len({(m, p) for m, p, _ in validated})} operations; spec patches: {PATCHES}")
    for m, p, s in sorted(set(validated)):
        print(f"  {s} {m} {p}")
    assert not unmatched, f"requests to operations missing from the specs: {sorted(set(unmatched))}"
    assert not failures, "responses that do not match HubSpot's OpenAPI specs:\n" + "\n".join(failures)
    ops = {(m, p) for m, p, _ in validated}
    statuses = {s for _, _, s in validated}
    missing = {op for op in REQUIRED if op not in ops}
    assert not missing, f"operations not exercised: {sorted(missing)}"
    assert {200, 201, 204, 207, 400, 401, 404, 409, 429} <= statuses, statuses
