import { describe, expect, it } from "vitest";
import { naturalLocalType, readOnlyReason, starterProperties } from "./defaults";
import type { PropertyDef } from "../lib/ipc";

const prop = (name: string, extra: Partial<PropertyDef> = {}): PropertyDef => ({ name, label: name, type: "string", ...extra });

describe("mapping defaults", () => {
  it("starts contacts with the usual properties that exist, plus required ones", () => {
    const props = [prop("email"), prop("firstname"), prop("zzz"), prop("custom_required")];
    expect(starterProperties("contacts", props, ["custom_required"])).toEqual(["email", "firstname", "custom_required"]);
  });

  it("falls back to writable live properties for unknown objects", () => {
    const props = [prop("a", { readOnly: true }), prop("b"), prop("c", { archived: true }), prop("d")];
    expect(starterProperties("2-123", props, [])).toEqual(["b", "d"]);
  });

  it("maps types and explains read-only properties", () => {
    expect(naturalLocalType(prop("n", { type: "number" }))).toBe("real");
    expect(naturalLocalType(prop("c", { type: "enumeration", fieldType: "checkbox" }))).toBe("json");
    expect(readOnlyReason(prop("x", { calculated: true }))).toMatch(/calculates/);
    expect(readOnlyReason(prop("y"))).toBeNull();
  });
});
