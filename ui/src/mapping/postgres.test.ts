import { describe, expect, it } from "vitest";
import { describeCheck, fieldOf, tableProblem, urlProblem } from "./postgres";

describe("urlProblem", () => {
  it("accepts a URL without a password", () => {
    expect(urlProblem("postgresql://spoke@127.0.0.1:5432/crm")).toBeNull();
    expect(urlProblem("postgres://spoke@db.example.com/crm?sslmode=disable")).toBeNull();
  });
  it("refuses a password in the URL, and says where it goes instead", () => {
    const p = urlProblem("postgresql://spoke:hunter2@127.0.0.1:5432/crm");
    expect(p).toContain("Remove the password");
    expect(p).toContain("Password");
    expect(p).not.toContain("hunter2");
    expect(urlProblem("postgresql://spoke@h/crm?password=x")).toContain("Remove the password");
  });
  it("an @ in the path is not a password", () => {
    expect(urlProblem("postgresql://spoke@h:5432/db?application_name=a:b")).toBeNull();
  });
  it("asks for the scheme and for something at all", () => {
    expect(urlProblem("mysql://x@h/db")).toContain("postgresql://");
    expect(urlProblem("  ")).toContain("Enter");
  });
});

describe("tableProblem", () => {
  it("takes TABLE and SCHEMA.TABLE", () => {
    expect(tableProblem("contacts")).toBeNull();
    expect(tableProblem("crm.contacts")).toBeNull();
  });
  it("refuses more parts or empty parts", () => {
    expect(tableProblem("a.b.c")).not.toBeNull();
    expect(tableProblem("crm.")).not.toBeNull();
    expect(tableProblem("")).not.toBeNull();
  });
});

describe("fieldOf", () => {
  const e = (code: string) => ({ code, message: "m", hint: null });
  it("marks the field each problem is in", () => {
    expect(fieldOf(e("engine.pg_password"))).toBe("password");
    expect(fieldOf(e("engine.pg_unreachable"))).toBe("url");
    expect(fieldOf(e("engine.pg_no_database"))).toBe("url");
    expect(fieldOf(e("engine.pg_permission"))).toBe("table");
    expect(fieldOf(e("engine.pg_table"))).toBe("table");
    expect(fieldOf(e("hubspot.unauthorized"))).toBeNull();
    expect(fieldOf(null)).toBeNull();
  });
});

describe("describeCheck", () => {
  const base = { serverVersion: "15.8 (Debian 15.8-0+deb12u1)", user: "crm_owner", database: "crm", table: "public.contacts", passwordUsed: true };
  it("a table to be created", () => {
    const d = describeCheck({ ...base, exists: false, columns: [] });
    expect(d.server).toBe("PostgreSQL 15.8 — logged in as crm_owner to crm with the saved password");
    expect(d.table).toContain("does not exist yet: the first sync creates it");
  });
  it("an existing table with its columns", () => {
    const col = { name: "email", declaredType: "text", localType: "text" as const, notNull: false, primaryKey: false, defaultValue: null };
    const d = describeCheck({ ...base, passwordUsed: false, exists: true, columns: [col, { ...col, name: "x" }] });
    expect(d.table).toBe("public.contacts exists: 2 columns; Spoke adds the mapped columns it lacks.");
    expect(d.server).toContain("without a password");
  });
});
