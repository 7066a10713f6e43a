import { describe, expect, it } from "vitest";
import type { PropertyDef } from "../lib/ipc";
import { describeStep, filterProperties, indexProperties, issueTarget, newStep, nextDirection, score, STEP_KINDS } from "./mapper";

const prop = (name: string, label: string, extra: Partial<PropertyDef> = {}): PropertyDef => ({ name, label, type: "string", ...extra });

const props = [
  prop("email", "Email"),
  prop("work_email", "Work email"),
  prop("firstname", "First Name"),
  prop("lastname", "Last Name"),
  prop("hs_email_domain", "Email Domain", { readOnly: true }),
  prop("lifecyclestage", "Lifecycle Stage", { type: "enumeration" }),
  prop("old_field", "Old field", { archived: true }),
];
const index = indexProperties(props);
const names = (r: { shown: PropertyDef[] }) => r.shown.map((p) => p.name);
const base = { query: "", show: "all" as const, type: "", isMapped: () => false, limit: 100 };

describe("property search", () => {
  it("ranks exact, then prefix, then word prefix, then substring", () => {
    expect(names(filterProperties(index, { ...base, query: "email" }))).toEqual(["email", "hs_email_domain", "work_email"]);
    const [email] = index;
    expect(score(email, "email")).toBeGreaterThan(score(index[1], "email"));
  });

  it("is case-insensitive and matches labels and multi-word queries", () => {
    expect(names(filterProperties(index, { ...base, query: "LAST" }))).toEqual(["lastname"]);
    expect(names(filterProperties(index, { ...base, query: "first name" }))).toEqual(["firstname"]);
    expect(names(filterProperties(index, { ...base, query: "stage" }))).toEqual(["lifecyclestage"]);
    expect(filterProperties(index, { ...base, query: "nothing like it" }).total).toBe(0);
  });

  it("filters by mapped state and type; hides archived unless mapped", () => {
    const isMapped = (n: string) => n === "email" || n === "old_field";
    expect(names(filterProperties(index, { ...base, show: "mapped", isMapped }))).toEqual(["email", "old_field"]);
    expect(names(filterProperties(index, { ...base, show: "unmapped", isMapped }))).not.toContain("email");
    expect(names(filterProperties(index, { ...base }))).not.toContain("old_field");
    expect(names(filterProperties(index, { ...base, type: "enumeration" }))).toEqual(["lifecyclestage"]);
  });

  it("puts mapped properties first on equal scores and caps the list", () => {
    const r = filterProperties(index, { ...base, query: "", isMapped: (n) => n === "lastname", limit: 3 });
    expect(r.total).toBe(6);
    expect(names(r)).toEqual(["lastname", "email", "hs_email_domain"]);
  });

  it("stays correct with 2,000 properties", () => {
    const many = indexProperties(Array.from({ length: 2000 }, (_, i) => prop(`custom_${i}`, `Custom field ${i}`)));
    const r = filterProperties(many, { ...base, query: "custom_1999", limit: 150 });
    expect(names(r)[0]).toBe("custom_1999");
    expect(filterProperties(many, { ...base, query: "custom_1", limit: 150 }).total).toBe(1111);
  });
});

describe("issue targets", () => {
  it("reads the validation path", () => {
    expect(issueTarget("fields[2].property")).toEqual({ kind: "field", index: 2, transform: false });
    expect(issueTarget("fields[0].inbound[1]")).toEqual({ kind: "field", index: 0, transform: true });
    expect(issueTarget("criteria[3].value")).toEqual({ kind: "criterion", index: 3 });
    expect(issueTarget("criteria")).toEqual({ kind: "criterion", index: 0 });
    expect(issueTarget("matchKey")).toEqual({ kind: "matchKey" });
    expect(issueTarget("destination.table")).toEqual({ kind: "destination" });
    expect(issueTarget("name")).toEqual({ kind: "name" });
    expect(issueTarget("fields")).toEqual({ kind: "fields" });
    expect(issueTarget("twoWay")).toEqual({ kind: "none" });
  });
});

describe("directions and steps", () => {
  it("cycles directions; read-only stays inbound", () => {
    expect(nextDirection("toLocal", false)).toBe("both");
    expect(nextDirection("both", false)).toBe("toHubSpot");
    expect(nextDirection("toHubSpot", false)).toBe("toLocal");
    expect(nextDirection("toLocal", true)).toBe("toLocal");
  });

  it("describes every step kind it can create", () => {
    for (const k of STEP_KINDS) expect(describeStep(newStep(k.op)).length).toBeGreaterThan(3);
    expect(describeStep({ op: "split", separator: " ", index: 0, rest: false })).toBe('split on " ", part 1');
  });
});
