import type { LocalType, PropertyDef, PropertyType } from "../lib/ipc";

/** Properties a new mapping starts with, per standard object (when the portal has them). */
export const STARTER_PROPERTIES: Record<string, string[]> = {
  contacts: ["email", "firstname", "lastname", "phone", "company", "jobtitle", "lifecyclestage", "lastmodifieddate"],
  companies: ["name", "domain", "industry", "city", "country", "numberofemployees", "hs_lastmodifieddate"],
  deals: ["dealname", "amount", "dealstage", "pipeline", "closedate", "hs_lastmodifieddate"],
  tickets: ["subject", "content", "hs_pipeline_stage", "hs_ticket_priority", "hs_lastmodifieddate"],
};

export function starterProperties(object: string, props: PropertyDef[], required: string[]): string[] {
  const wanted = new Set([...(STARTER_PROPERTIES[object] ?? []), ...required]);
  const picked = props.filter((p) => wanted.has(p.name) && !p.archived && !p.removed).map((p) => p.name);
  if (picked.length) return picked;
  return props.filter((p) => !p.archived && !p.removed && !p.readOnly).slice(0, 6).map((p) => p.name);
}

/** The local column type a property lands in by default (mirrors the mapping crate's rule). */
export function naturalLocalType(p: PropertyDef): LocalType {
  const byType: Record<PropertyType, LocalType> = {
    string: "text", number: "real", date: "date", datetime: "datetime", enumeration: "text", bool: "boolean",
    phone_number: "text", object_coordinates: "text", json: "json", other: "text",
  };
  if (p.type === "enumeration" && p.fieldType === "checkbox") return "json";
  return byType[p.type] ?? "text";
}

/** Why a property cannot be written back, or null when it can. */
export function readOnlyReason(p: PropertyDef): string | null {
  if (p.calculated) return "HubSpot calculates this property; it cannot be written.";
  if (p.readOnly) return "HubSpot marks this property read-only.";
  if (p.archived || p.removed) return "This property is archived in HubSpot.";
  return null;
}
