import { describe, expect, it } from "vitest";
import type { PropertyDef } from "../lib/ipc";
import { chainSides, describeStep, filterProperties, indexProperties, issueTarget, keepSide, moveActive, newStep, nextDirection, outboundSamples, pickProperties, score, STEP_KINDS } from "./mapper";

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

describe("two step chains", () => {
  it("runs the chains the direction says, inbound first", () => {
    expect(chainSides("toLocal")).toEqual(["inbound"]);
    expect(chainSides("toHubSpot")).toEqual(["outbound"]);
    expect(chainSides("both")).toEqual(["inbound", "outbound"]);
  });
  it("keeps the edited side while the direction still runs it", () => {
    expect(keepSide("outbound", "both")).toBe("outbound");
    expect(keepSide("outbound", "toLocal")).toBe("inbound");
    expect(keepSide("inbound", "toHubSpot")).toBe("outbound");
  });
  it("previews write-back on the typed value first, then the table's rows", () => {
    const rows = [{ first_name: "Ada" }, { first_name: "Grace" }, { first_name: "Alan" }];
    expect(outboundSamples(rows, "first_name", "", 2)).toEqual([
      { label: "row 1", row: { first_name: "Ada" } }, { label: "row 2", row: { first_name: "Grace" } },
    ]);
    expect(outboundSamples(rows, "first_name", " x ", 1)).toEqual([
      { label: "your value", row: { first_name: " x " } }, { label: "row 1", row: { first_name: "Ada" } },
    ]);
    expect(outboundSamples([], null, "x")).toEqual([]);
  });
});

describe("property picker", () => {
  it("ranks with the mapper's search and leaves out archived properties", () => {
    expect(names(pickProperties(index, "email"))[0]).toBe("email");
    expect(names(pickProperties(index, "stage"))).toEqual(["lifecyclestage"]);
    expect(names(pickProperties(index, "old"))).toEqual([]);
    const r = pickProperties(index, "", 2);
    expect(r.shown.length).toBe(2);
    expect(r.total).toBe(6);
  });
  it("moves the highlight by keyboard, wrapping at the ends", () => {
    expect(moveActive(-1, "ArrowDown", 3)).toBe(0);
    expect(moveActive(2, "ArrowDown", 3)).toBe(0);
    expect(moveActive(0, "ArrowUp", 3)).toBe(2);
    expect(moveActive(-1, "ArrowUp", 3)).toBe(2);
    expect(moveActive(1, "End", 3)).toBe(2);
    expect(moveActive(2, "Home", 3)).toBe(0);
    expect(moveActive(0, "PageDown", 20)).toBe(8);
    expect(moveActive(3, "PageUp", 20)).toBe(0);
    expect(moveActive(5, "a", 3)).toBe(2);
    expect(moveActive(0, "ArrowDown", 0)).toBe(-1);
  });
});
