// The PostgreSQL destination picker's logic: what is wrong with the URL or table before anything
// is sent, which field a server's problem is in, and what Test found, in words.
import type { IpcError, PgCheck } from "../lib/ipc";

export type PgField = "url" | "password" | "table";

/** What is wrong with a destination URL as typed (the same rule the backend applies), or null. */
export function urlProblem(url: string): string | null {
  const u = url.trim();
  if (!u) return "Enter the database's URL: postgresql://USER@HOST:PORT/DATABASE.";
  const rest = u.startsWith("postgresql://") ? u.slice(13) : u.startsWith("postgres://") ? u.slice(11) : null;
  if (rest === null) return "The URL must start with postgresql:// (postgresql://USER@HOST:PORT/DATABASE).";
  const authority = rest.split(/[/?]/)[0];
  const at = authority.lastIndexOf("@");
  if ((at >= 0 && authority.slice(0, at).includes(":")) || rest.includes("password=")) {
    return "Remove the password from the URL (postgresql://USER@HOST:PORT/DATABASE) and type it in Password: Spoke keeps it in the OS keychain, never in the mapping file.";
  }
  return null;
}

/** What is wrong with a table name as typed, or null. */
export function tableProblem(table: string): string | null {
  const parts = table.trim().split(".");
  if (!table.trim() || parts.length > 2 || parts.some((p) => !p.trim())) return "Name the table like contacts or crm.contacts.";
  return null;
}

/** The field a backend problem (`engine.pg_*`, keychain) is about, to mark it. */
export function fieldOf(error: IpcError | null): PgField | null {
  if (!error) return null;
  switch (error.code) {
    case "engine.pg_password":
    case "connect.keychain_unavailable":
    case "connect.keychain":
      return "password";
    case "engine.pg_permission":
    case "engine.pg_table":
      return "table";
    case "engine.pg_url":
    case "engine.pg_unreachable":
    case "engine.pg_no_database":
    case "engine.pg_no_user":
    case "engine.pg_server":
      return "url";
    default:
      return null;
  }
}

/** Test's findings as short lines for the picker. */
export function describeCheck(c: PgCheck): { server: string; table: string } {
  const version = c.serverVersion.split(" ")[0];
  const server = `PostgreSQL ${version} — logged in as ${c.user} to ${c.database}${c.passwordUsed ? " with the saved password" : " without a password"}`;
  const n = c.columns.length;
  const table = c.exists
    ? `${c.table} exists: ${n} column${n === 1 ? "" : "s"}${n ? "" : " besides Spoke's"}; Spoke adds the mapped columns it lacks.`
    : `${c.table} does not exist yet: the first sync creates it with the mapped columns.`;
  return { server, table };
}
