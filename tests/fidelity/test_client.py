"""HubSpot's official Python client (`hubspot-api-client`), unmodified, against the sandbox."""

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hubspot.crm.associations.v4 import AssociationSpec, BatchInputPublicFetchAssociationsBatchRequest, PublicFetchAssociationsBatchRequest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicMergeInput,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import PropertyCreate

from conftest import client_for

REDIRECT = "http://localhost:53135/callback"


def body(e):
    return json.loads(e.body)


def consent_code(portal, scopes):
    s = requests.Session()
    r = s.get(f"{portal.base_url}/oauth/authorize", params={"client_id": portal.info["clientId"], "redirect_uri": REDIRECT, "scope": " ".join(scopes), "state": "st"})
    assert r.status_code == 200, r.text
    rid = re.search(r'name="request_id" value="([0-9a-f]+)"', r.text).group(1)
    r = s.post(f"{portal.base_url}/oauth/authorize", data={"request_id": rid, "decision": "allow"}, allow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["location"]).query)
    assert q["state"] == ["st"]
    return q["code"][0]


def test_oauth_code_exchange_refresh_and_errors(portal):
    from hubspot import HubSpot
    from hubspot.oauth import ApiException as OAuthError

    api = HubSpot(host=portal.base_url)
    code = consent_code(portal, portal.info["scopes"])
    tokens = api.oauth.tokens_api.create(grant_type="authorization_code", code=code, redirect_uri=REDIRECT, client_id=portal.info["clientId"], client_secret=portal.info["clientSecret"])
    assert tokens.access_token and tokens.refresh_token
    assert tokens.expires_in == 1800
    info = api.oauth.access_tokens_api.get(tokens.access_token)
    assert info.hub_id == portal.info["portalId"]
    assert "crm.objects.contacts.read" in info.scopes
    refreshed = api.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token, client_id=portal.info["clientId"], client_secret=portal.info["clientSecret"])
    assert refreshed.access_token != tokens.access_token
    rt = api.oauth.refresh_tokens_api.get(tokens.refresh_token)
    assert rt.client_id == portal.info["clientId"]

    # The OAuth access token works with the CRM clients.
    page = client_for(portal.base_url, refreshed.access_token).crm.contacts.basic_api.get_page(limit=2)
    assert len(page.results) == 2

    with pytest.raises(OAuthError) as e:
        api.oauth.tokens_api.create(grant_type="refresh_token", refresh_token="not-a-token", client_id=portal.info["clientId"], client_secret=portal.info["clientSecret"])
    assert e.value.status == 400
    assert body(e.value)["status"] == "BAD_REFRESH_TOKEN"
    assert body(e.value)["error"] == "invalid_grant"
    with pytest.raises(OAuthError) as e:
        api.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token, client_id=portal.info["clientId"], client_secret="wrong")
    assert body(e.value)["status"] == "BAD_CLIENT_SECRET"
    assert body(e.value)["error"] == "invalid_client"


def test_crud_merge_and_errors(hs):
    api = hs.crm.contacts.basic_api
    created = api.create(SimplePublicObjectInputForCreate(properties={"email": "fidelity.one@acme-demo.com", "firstname": "Fi", "lifecyclestage": "lead"}, associations=[]))
    assert created.id and created.properties["email"] == "fidelity.one@acme-demo.com"
    got = api.get_by_id(created.id, properties=["email", "firstname", "lifecyclestage"])
    assert got.properties["firstname"] == "Fi"
    by_email = api.get_by_id("fidelity.one@acme-demo.com", id_property="email")
    assert by_email.id == created.id
    updated = api.update(created.id, SimplePublicObjectInput(properties={"firstname": "Fido"}))
    assert updated.properties["firstname"] == "Fido"
    assert updated.updated_at >= created.updated_at

    with pytest.raises(ApiException) as e:
        api.create(SimplePublicObjectInputForCreate(properties={"email": "FIDELITY.ONE@acme-demo.com"}, associations=[]))
    assert e.value.status == 409
    assert body(e.value)["category"] == "CONFLICT"
    assert f"Existing ID: {created.id}" in body(e.value)["message"]
    with pytest.raises(ApiException) as e:
        api.create(SimplePublicObjectInputForCreate(properties={"lifecyclestage": "astronaut"}, associations=[]))
    assert e.value.status == 400 and body(e.value)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ApiException) as e:
        api.get_by_id("999999999")
    assert e.value.status == 404

    other = api.create(SimplePublicObjectInputForCreate(properties={"email": "fidelity.two@acme-demo.com"}, associations=[]))
    merged = api.merge(PublicMergeInput(primary_object_id=created.id, object_id_to_merge=other.id))
    assert merged.id == created.id
    survivor = api.get_by_id(other.id, properties=["hs_merged_object_ids"])
    assert survivor.id == created.id
    assert other.id in survivor.properties["hs_merged_object_ids"].split(";")

    api.archive(created.id)
    with pytest.raises(ApiException) as e:
        api.get_by_id(created.id)
    assert e.value.status == 404
    assert api.get_by_id(created.id, archived=True).archived is True

    page = api.get_page(limit=100, properties=["email"], associations=["companies"])
    assert len(page.results) == 100 and page.paging.next.after
    everything = hs.crm.contacts.get_all(properties=["email"])
    assert len(everything) > 10_000


def test_batch_partial_failure_and_duplicate_emails(hs):
    batch = hs.crm.contacts.batch_api
    created = batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": f"batch{i}@acme-demo.com"}, associations=[]) for i in range(3)
    ]))
    ids = [r.id for r in created.results]
    assert len(ids) == 3

    res = batch.read(BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=ids[0]), SimplePublicObjectId(id="999999999")], properties=["email"], properties_with_history=[]))
    assert len(res.results) == 1
    assert res.num_errors == 1
    assert res.errors[0].category == "OBJECT_NOT_FOUND"
    assert res.errors[0].context["ids"] == ["999999999"]

    res = batch.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=ids[1], properties={"firstname": "Batchy"}),
        SimplePublicObjectBatchInput(id=ids[2], properties={"spoke_score": "not a number"}),
    ]))
    assert len(res.results) == 1 and res.results[0].properties["firstname"] == "Batchy"
    assert res.errors[0].category == "VALIDATION_ERROR"

    with pytest.raises(ApiException) as e:
        batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": "dup@acme-demo.com"}, associations=[]),
            SimplePublicObjectBatchInputForCreate(properties={"email": "dup@acme-demo.com"}, associations=[]),
        ]))
    assert e.value.status == 409

    res = batch.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id="batch0@acme-demo.com", id_property="email", properties={"lastname": "Upserted"}),
        SimplePublicObjectBatchInputUpsert(id="fresh.upsert@acme-demo.com", id_property="email", properties={"lastname": "New"}),
    ]))
    flags = sorted(r.new for r in res.results)
    assert flags == [False, True]


def test_search_paging_to_the_10k_cap(hs):
    search = hs.crm.contacts.search_api
    req = lambda after: PublicObjectSearchRequest(filter_groups=[], sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}], properties=["email"], limit=200, after=after)
    after, seen = None, set()
    while True:
        try:
            page = search.do_search(req(after))
        except ApiException as e:
            assert e.status == 400
            assert body(e)["category"] == "VALIDATION_ERROR"
            break
        assert page.total > 10_000
        seen.update(r.id for r in page.results)
        after = page.paging.next.after
    assert len(seen) == 10_000
    assert after == "10000"

    gmail = search.do_search(PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[Filter(property_name="email", operator="CONTAINS_TOKEN", value="*@gmail.com")])], sorts=[], properties=["email"], limit=50, after=None))
    assert gmail.total > 0 and all(r.properties["email"].endswith("@gmail.com") for r in gmail.results)
    with pytest.raises(ApiException) as e:
        search.do_search(PublicObjectSearchRequest(filter_groups=[], sorts=[], properties=[], limit=201, after=None))
    assert e.value.status == 400


def test_properties_schemas_owners(hs):
    props = hs.crm.properties.core_api.get_all("contacts")
    types = {p.type for p in props.results}
    assert {"string", "number", "date", "datetime", "enumeration", "bool"} <= types
    email = hs.crm.properties.core_api.get_by_name("contacts", "email")
    assert email.field_type == "text"
    made = hs.crm.properties.core_api.create("deals", PropertyCreate(name="fidelity_flag", label="Fidelity flag", type="bool", field_type="booleancheckbox", group_name="dealinformation"))
    assert made.name == "fidelity_flag"
    groups = hs.crm.properties.groups_api.get_all("companies")
    assert any(g.name == "companyinformation" for g in groups.results)

    schemas = hs.crm.schemas.core_api.get_all()
    project = schemas.results[0]
    assert project.object_type_id.startswith("2-") and project.labels.plural == "Projects"
    assert hs.crm.schemas.core_api.get_by_id(project.object_type_id).name == "projects"
    page = hs.crm.objects.basic_api.get_page(project.object_type_id, limit=5, properties=["project_name", "project_code"])
    assert page.results[0].properties["project_code"].startswith("PRJ-")

    owners = hs.crm.owners.owners_api.get_page(limit=5)
    assert owners.results[0].email.endswith("@northwind-demo.com")
    assert hs.crm.owners.owners_api.get_by_id(int(owners.results[0].id)).id == owners.results[0].id


def test_associations_v4(hs):
    contact = hs.crm.contacts.basic_api.get_page(limit=1, associations=["companies"]).results[0]
    deal = hs.crm.deals.basic_api.get_page(limit=1).results[0]
    made = hs.crm.associations.v4.basic_api.create("contacts", contact.id, "deals", deal.id, [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=4)])
    assert made.to_object_id == deal.id
    page = hs.crm.associations.v4.basic_api.get_page("contacts", contact.id, "deals")
    assert any(r.to_object_id == deal.id for r in page.results)
    batch = hs.crm.associations.v4.batch_api.get_page("deals", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=deal.id)]))
    assert batch.results[0].to[0].association_types
    hs.crm.associations.v4.basic_api.archive("contacts", contact.id, "deals", deal.id)
    page = hs.crm.associations.v4.basic_api.get_page("contacts", contact.id, "deals")
    assert not any(r.to_object_id == deal.id for r in page.results)
    hs.crm.associations.v4.basic_api.create_default("contacts", contact.id, "deals", deal.id)


def test_rate_limit_errors(free_portal):
    from hubspot import HubSpot
    from urllib3.util.retry import Retry

    # urllib3 would otherwise sleep for Retry-After and retry 429s by itself.
    hs = HubSpot(access_token=free_portal.token, host=free_portal.base_url, retry=Retry(total=0, respect_retry_after_header=False))
    statuses = []
    api = hs.crm.contacts.basic_api
    for _ in range(101):
        try:
            api.get_page(limit=1)
            statuses.append(200)
        except ApiException as e:
            statuses.append(e.status)
            err = body(e)
            assert err["policyName"] == "TEN_SECONDLY_ROLLING"
            assert err["category"] == "RATE_LIMITS"
            assert e.headers.get("Retry-After")
    assert statuses.count(200) == 100 and statuses[-1] == 429

    limited = []
    search = hs.crm.contacts.search_api
    for _ in range(6):
        try:
            search.do_search(PublicObjectSearchRequest(filter_groups=[], sorts=[], properties=[], limit=1, after=None))
            limited.append(200)
        except ApiException as e:
            limited.append(e.status)
            assert body(e)["policyName"] in ("SECONDLY", "TEN_SECONDLY_ROLLING")
    assert 429 in limited

    bad = client_for(free_portal.base_url, "pat-na1-00000000-0000-4000-8000-000000000000")
    with pytest.raises(ApiException) as e:
        bad.crm.contacts.basic_api.get_page(limit=1)
    assert e.value.status == 401


def test_webhooks_settings_and_subscriptions(portal):
    from hubspot import HubSpot
    from hubspot.webhooks import SettingsChangeRequest, SubscriptionCreateRequest, SubscriptionPatchRequest, ThrottlingSettings

    dev = HubSpot(api_key=portal.info["developerApiKey"], host=portal.base_url)
    app_id = portal.info["appId"]
    settings = dev.webhooks.settings_api.configure(app_id, SettingsChangeRequest(target_url="http://127.0.0.1:9/hooks", throttling=ThrottlingSettings(max_concurrent_requests=10)))
    assert settings.target_url == "http://127.0.0.1:9/hooks"
    assert dev.webhooks.settings_api.get_all(app_id).throttling.max_concurrent_requests == 10
    sub = dev.webhooks.subscriptions_api.create(app_id, SubscriptionCreateRequest(event_type="contact.propertyChange", property_name="email", active=True))
    assert sub.event_type == "contact.propertyChange" and sub.active
    listed = dev.webhooks.subscriptions_api.get_all(app_id)
    assert any(s.id == sub.id for s in listed.results)
    patched = dev.webhooks.subscriptions_api.update(int(sub.id), app_id, SubscriptionPatchRequest(active=False))
    assert patched.active is False
    dev.webhooks.subscriptions_api.archive(int(sub.id), app_id)
    dev.webhooks.settings_api.clear(app_id)


def test_files_upload_get_signed_url_and_archive(hs, tmp_path):
    from hubspot.files import ApiException as FilesApiException
    import hashlib
    import urllib.request

    data = bytes((i * 7) % 251 for i in range(50_000))
    path = tmp_path / "Fidelity report.pdf"
    path.write_bytes(data)
    f = hs.files.files_api.upload(file=str(path), folder_path="/fidelity", file_name="Fidelity report.pdf", options=json.dumps({"access": "PRIVATE"}))
    assert f.name == "Fidelity report" and f.extension == "pdf" and f.size == len(data) and f.access == "PRIVATE"
    assert hs.files.files_api.get_by_id(f.id).id == f.id
    signed = hs.files.files_api.get_signed_url(f.id, expiration_seconds=120)
    assert signed.size == len(data) and signed.name == "Fidelity report"
    # The signed URL needs no token (fetched outside the recorded client: it is not an API path).
    with urllib.request.urlopen(signed.url) as r:
        assert hashlib.sha256(r.read()).hexdigest() == hashlib.sha256(data).hexdigest()
    hs.files.files_api.archive(f.id)
    with pytest.raises(FilesApiException) as e:
        hs.files.files_api.get_by_id(f.id)
    assert e.value.status == 404
    # A seeded note attachment is readable the same way.
    notes = hs.crm.objects.notes.basic_api.get_page(limit=100, properties=["hs_attachment_ids"]).results
    ids = [i for n in notes for i in (n.properties.get("hs_attachment_ids") or "").split(";") if i]
    assert ids, "seeded notes carry attachments"
    assert hs.files.files_api.get_signed_url(ids[0]).url
