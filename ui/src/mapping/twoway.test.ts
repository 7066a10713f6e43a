import { describe, expect, it } from "vitest";
import type { FieldMapping, Mapping } from "../lib/bindings";
import { policyLabel, twoWayOf, twoWayProperties, withFieldPolicy, writtenProperties } from "./twoway";

const f = (property: string, direction: FieldMapping["direction"]): FieldMapping =>
  ({ property, column: property, direction }) as FieldMapping;

const m = {
  fields: [f("email", "both"), f("firstname", "both"), f("lastmodifieddate", "toLocal"), f("hs_lead_status", "toHubSpot")],
} as Pick<Mapping, "fields" | "twoWay">;

describe("write-back options", () => {
  it("fills in the defaults a mapping file leaves out", () => {
    expect(twoWayOf(m)).toEqual({ conflictPolicy: "newestWins", fieldPolicies: {}, localDeletes: "ignore" });
    expect(policyLabel("hubSpotWins")).toBe("HubSpot wins");
  });

  it("knows which fields flow both ways and which are written", () => {
    expect(twoWayProperties(m)).toEqual(["email", "firstname"]);
    expect(writtenProperties(m)).toEqual(["email", "firstname", "hs_lead_status"]);
  });

  it("keeps only overrides that differ from the default, on two-way fields", () => {
    const withAsk = { ...m, twoWay: withFieldPolicy(m, "firstname", "ask") };
    expect(withAsk.twoWay.fieldPolicies).toEqual({ firstname: "ask" });
    const stale = { ...withAsk, twoWay: { ...withAsk.twoWay, fieldPolicies: { firstname: "ask" as const, gone: "localWins" as const } } };
    expect(withFieldPolicy(stale, "email", "hubSpotWins").fieldPolicies).toEqual({ firstname: "ask", email: "hubSpotWins" });
    expect(withFieldPolicy(withAsk, "firstname", "newestWins").fieldPolicies).toEqual({});
    expect(withFieldPolicy(withAsk, "firstname", null).fieldPolicies).toEqual({});
  });
});
