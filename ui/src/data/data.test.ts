import { describe, expect, it } from "vitest";
import type { DeadLetter, WriteSummary } from "../lib/bindings";
import {
  badProperties, byReason, cellText, inputValue, pageLabel, plainMessage, pushHeadline, pushPercent, reasonLabel, reasons, retryIn,
} from "./data";

function dl(over: Partial<DeadLetter>): DeadLetter {
  return {
    mapping: "Contacts", object: "contacts", table: "contacts", rowKey: "a@x.com", rowId: 1, hubspotId: null, attempts: 1,
    firstFailedAt: "2026-11-24T10:00:00.000Z", lastFailedAt: "2026-11-24T10:00:00.000Z", nextRetryAt: "2026-11-24T10:05:00.000Z",
    category: "VALIDATION_ERROR", message: "bad", context: null, code: "validation_error", cause: "c", fix: "f",
    correlationId: null, runId: 1, ...over,
  };
}

const HUBSPOT_INVALID =
  'Property values were not valid: [{"isValid":false,"message":"Email address not-an-email is invalid","error":"INVALID_EMAIL","name":"email"},{"isValid":false,"message":"gold! was not one of the allowed options","error":"INVALID_OPTION","name":"spoke_tier"}]';

describe("cells", () => {
  it("shows values as text and sends empty input as null", () => {
    expect(cellText(null)).toBe("");
    expect(cellText(true)).toBe("true");
    expect(cellText(42.5)).toBe("42.5");
    expect(inputValue("  Ada ")).toBe("Ada");
    expect(inputValue("   ")).toBeNull();
  });

  it("labels pages", () => {
    expect(pageLabel(0, 50, 512)).toBe("1–50 of 512");
    expect(pageLabel(500, 12, 512)).toBe("501–512 of 512");
    expect(pageLabel(0, 0, 0)).toBe("No rows");
  });
});

describe("dead letters", () => {
  it("groups by reason, most frequent first, and filters", () => {
    const list = [dl({ rowId: 1 }), dl({ rowId: 2, category: "CONFLICT" }), dl({ rowId: 3 }), dl({ rowId: 4, category: "WRITE_REFUSED" })];
    expect(reasons(list).map((r) => [r.category, r.count])).toEqual([["VALIDATION_ERROR", 2], ["CONFLICT", 1], ["WRITE_REFUSED", 1]]);
    expect(byReason(list, "CONFLICT").map((d) => d.rowId)).toEqual([2]);
    expect(byReason(list, null)).toHaveLength(4);
    expect(reasonLabel("VALIDATION_ERROR")).toBe("Invalid value");
    expect(reasonLabel("SOME_NEW_THING")).toBe("Some new thing");
  });

  it("reads HubSpot's property errors in plain words and names the properties", () => {
    expect(plainMessage(HUBSPOT_INVALID)).toBe("Email address not-an-email is invalid; gold! was not one of the allowed options");
    expect(plainMessage("Contact already exists. Existing ID: 12")).toBe("Contact already exists. Existing ID: 12");
    expect(badProperties({ message: HUBSPOT_INVALID, context: null })).toEqual(["email", "spoke_tier"]);
    expect(badProperties({ message: "x", context: '{"propertyName":["phone"]}' })).toEqual(["phone"]);
    expect(badProperties({ message: "Property values were not valid: [oops", context: "not json" })).toEqual([]);
  });

  it("says when the next retry is", () => {
    const now = Date.parse("2026-11-24T10:00:00.000Z");
    expect(retryIn("2026-11-24T10:04:00.000Z", now)).toBe("in 4 min");
    expect(retryIn("2026-11-24T13:00:00.000Z", now)).toBe("in 3 h");
    expect(retryIn("2026-11-24T09:00:00.000Z", now)).toBe("on the next push");
    expect(retryIn("garbage", now)).toBe("—");
  });
});

describe("push", () => {
  const base: WriteSummary = {
    runId: 3, mapping: "Contacts", object: "contacts", table: "contacts", status: "succeeded", pending: 0, created: 0, updated: 0,
    rejected: 0, archived: 0, deferred: 0, bisections: 0, apiCalls: 0, durationMs: 10, results: [], message: "",
  };

  it("sums up a push in one sentence", () => {
    expect(pushHeadline(base)).toBe("Nothing to send: every row matches HubSpot.");
    expect(pushHeadline({ ...base, pending: 3, updated: 1, created: 1, rejected: 1, status: "succeededWithErrors" }))
      .toBe("1 updated, 1 created, 1 refused in HubSpot.");
    expect(pushHeadline({ ...base, pending: 1, deferred: 2 })).toBe("Nothing written in HubSpot. 2 refused rows wait for their retry.");
    expect(pushHeadline({ ...base, pending: 5, updated: 2, status: "cancelled" })).toBe("Cancelled: 2 updated in HubSpot.");
    expect(pushHeadline({ ...base, pending: 1, archived: 1 })).toBe("1 archived in HubSpot.");
  });

  it("measures progress by rows answered", () => {
    const p = { runId: 1, mapping: "m", table: "t", pending: 200, written: 90, rejected: 10, apiCalls: 2, elapsedMs: 5 };
    expect(pushPercent(p)).toBe(50);
    expect(pushPercent({ ...p, pending: 0 })).toBeNull();
  });
});
