// Typed access to the Rust commands. The generated bindings (bindings.ts) give the signatures;
// this file turns their Result values into exceptions carrying the `{code, message, hint}` error.
import { commands, type IpcError } from "./bindings";

export type {
  IpcError, Connection, OAuthStarted, ScopePlan, ScopeReport, Preset, ScopeInfo, ObjectAccess,
  ScopeObject, Access, AuthMethod, DemoPortalInfo, DisconnectReport, OwnAppSignIn, AppInfo,
  Mapping, MappingEntry, FieldMapping, ObjectCatalog, ObjectDirectory, PropertyDef, Suggestion, Issue,
  DryRunRow, LocalTable, Criterion, Direction, Transform, LocalValue, PropertyType, LocalType,
  HubSpotRecord, FieldPreview, Candidate, PgCheck, LocalColumn,
} from "./bindings";
import type { FieldMapping, HubSpotRecord, LocalValue, Mapping } from "./bindings";
/** A local table row, column → value (as the commands take and return it). */
export type LocalRow = Partial<{ [key in string]: LocalValue }>;

export class CommandError extends Error {
  readonly code: string;
  readonly hint: string | null;
  constructor(e: IpcError) {
    super(e.message);
    this.name = "CommandError";
    this.code = e.code;
    this.hint = e.hint;
  }
}

type Result<T, E> = { status: "ok"; data: T } | { status: "error"; error: E };

/** Unwraps a command result or throws a CommandError. */
export function unwrap<T>(result: Result<T, IpcError>): T {
  if (result.status === "ok") return result.data;
  throw new CommandError(result.error);
}

/** Any thrown value as `{code, message, hint}`, for display. */
export function toIpcError(e: unknown): IpcError {
  if (e instanceof CommandError) return { code: e.code, message: e.message, hint: e.hint };
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const o = e as { code: unknown; message: unknown; hint?: unknown };
    return { code: String(o.code), message: String(o.message), hint: o.hint ? String(o.hint) : null };
  }
  return { code: "ui.unexpected", message: e instanceof Error ? e.message : String(e), hint: null };
}

export const api = {
  appInfo: async () => unwrap(await commands.appInfo()),
  listConnections: async () => unwrap(await commands.listConnections()),
  addTokenConnection: async (label: string | null, baseUrl: string | null, token: string) =>
    unwrap(await commands.addTokenConnection(label, baseUrl, token)),
  connectDemoToken: async () => unwrap(await commands.connectDemoToken()),
  beginOauth: async (request: import("./bindings").OwnAppSignIn) => unwrap(await commands.beginOauth(request)),
  beginDemoOauth: async (scopes: string[], optional: string[]) => unwrap(await commands.beginDemoOauth(scopes, optional)),
  finishOauth: async (flowId: string) => unwrap(await commands.finishOauth(flowId)),
  cancelOauth: async (flowId: string) => unwrap(await commands.cancelOauth(flowId)),
  beginReconnect: async (id: string) => unwrap(await commands.beginReconnect(id)),
  refreshConnection: async (id: string) => unwrap(await commands.refreshConnection(id)),
  disconnect: async (id: string) => unwrap(await commands.disconnect(id)),
  scopeCatalog: () => commands.scopeCatalog(),
  scopePresets: () => commands.scopePresets(),
  planScopes: (picks: import("./bindings").ObjectAccess[], method: import("./bindings").AuthMethod) =>
    commands.planScopes(picks, method),
  scopeReport: async (id: string, picks: import("./bindings").ObjectAccess[]) => unwrap(await commands.scopeReport(id, picks)),
  demoPortal: () => commands.demoPortal(),
  listObjects: async (id: string, refresh = false) => unwrap(await commands.listObjects(id, refresh)),
  objectProperties: async (id: string, object: string, refresh = false) =>
    unwrap(await commands.objectProperties(id, object, refresh)),
  newMapping: async (id: string, object: string, table: string, properties: string[]) =>
    unwrap(await commands.newMapping(id, object, table, properties)),
  sqliteTables: async (path: string) => unwrap(await commands.sqliteTables(path)),
  sqliteTable: async (path: string, table: string) => unwrap(await commands.sqliteTable(path, table)),
  suggestFields: async (id: string, object: string, path: string, table: string) =>
    unwrap(await commands.suggestFields(id, object, path, table)),
  validateMapping: async (id: string, mapping: Mapping) => unwrap(await commands.validateMapping(id, mapping)),
  previewMapping: async (id: string, mapping: Mapping, toHubspot: boolean, limit: number) =>
    unwrap(await commands.previewMapping(id, mapping, toHubspot, limit)),
  sampleRecords: async (id: string, mapping: Mapping, limit: number) =>
    unwrap(await commands.sampleRecords(id, mapping, limit)),
  previewField: async (field: FieldMapping, records: HubSpotRecord[]) =>
    unwrap(await commands.previewField(field, records)),
  previewFieldOutbound: async (field: FieldMapping, rows: LocalRow[]) =>
    unwrap(await commands.previewFieldOutbound(field, rows)),
  localSamples: async (mapping: Mapping, limit: number) =>
    unwrap(await commands.localSamples(mapping, limit)),
  listMappings: async (id: string) => unwrap(await commands.listMappings(id)),
  loadMapping: async (id: string, file: string) => unwrap(await commands.loadMapping(id, file)),
  saveMapping: async (id: string, mapping: Mapping) => unwrap(await commands.saveMapping(id, mapping)),
  deleteMapping: async (id: string, file: string) => unwrap(await commands.deleteMapping(id, file)),
  exportMapping: async (mapping: Mapping) => unwrap(await commands.exportMapping(mapping)),
  /** The password goes to the OS keychain once and never comes back. */
  saveDatabasePassword: async (url: string, password: string) => unwrap(await commands.saveDatabasePassword(url, password)),
  forgetDatabasePassword: async (url: string) => unwrap(await commands.forgetDatabasePassword(url)),
  databasePasswordSaved: async (url: string) => unwrap(await commands.databasePasswordSaved(url)),
  testPostgres: async (url: string, table: string) => unwrap(await commands.testPostgres(url, table)),
  suggestColumns: async (id: string, object: string, columns: import("./bindings").LocalColumn[]) =>
    unwrap(await commands.suggestColumns(id, object, columns)),
  testConnection: async (
    id: string,
    options: import("./bindings").CheckOptions,
    onStep: import("@tauri-apps/api/core").Channel<import("./bindings").CheckStep>,
  ) => unwrap(await commands.testConnection(id, options, onStep)),
  diagnosticsReport: async (run: import("./bindings").CheckRun) => unwrap(await commands.diagnosticsReport(run)),
  saveDiagnosticsReport: async (run: import("./bindings").CheckRun) => unwrap(await commands.saveDiagnosticsReport(run)),
  startSync: async (
    id: string,
    file: string,
    full: boolean,
    onProgress: import("@tauri-apps/api/core").Channel<import("./bindings").Progress>,
  ) => unwrap(await commands.startSync(id, file, full, onProgress)),
  cancelSync: (id: string, file: string) => commands.cancelSync(id, file),
  listRuns: async (limit: number) => unwrap(await commands.listRuns(limit)),
  runErrors: async (runId: number) => unwrap(await commands.runErrors(runId)),
  tableRows: async (table: string, limit: number, offset: number) => unwrap(await commands.tableRows(table, limit, offset)),
  exportTable: async (id: string, file: string, format: import("./bindings").ExportFormat) =>
    unwrap(await commands.exportTable(id, file, format)),
  syncComments: async (id: string, file: string) => unwrap(await commands.syncComments(id, file)),
  commentAttachments: async (id: string, file: string) => unwrap(await commands.commentAttachments(id, file)),
  getSchedule: async (id: string, file: string) => unwrap(await commands.getSchedule(id, file)),
  setSchedule: async (id: string, file: string, schedule: import("./bindings").Schedule) =>
    unwrap(await commands.setSchedule(id, file, schedule)),
  setWebhookUrl: async (id: string, url: string | null) => unwrap(await commands.setWebhookUrl(id, url)),
  dataPage: async (id: string, file: string, filter: import("./bindings").RowFilter, limit: number, offset: number, focusRow: number | null = null) =>
    unwrap(await commands.dataPage(id, file, filter, limit, offset, focusRow)),
  updateCell: async (id: string, file: string, rowId: number, column: string, value: import("./bindings").LocalValue) =>
    unwrap(await commands.updateCell(id, file, rowId, column, value)),
  insertRow: async (id: string, file: string, values: Partial<Record<string, import("./bindings").LocalValue>>) =>
    unwrap(await commands.insertRow(id, file, values)),
  discardRow: async (id: string, file: string, rowId: number) => unwrap(await commands.discardRow(id, file, rowId)),
  pushChanges: async (
    id: string,
    file: string,
    onProgress: import("@tauri-apps/api/core").Channel<import("./bindings").WriteProgress>,
  ) => unwrap(await commands.pushChanges(id, file, onProgress)),
  resendDeadLetters: async (
    id: string,
    file: string,
    rowKey: string | null,
    onProgress: import("@tauri-apps/api/core").Channel<import("./bindings").WriteProgress>,
  ) => unwrap(await commands.resendDeadLetters(id, file, rowKey, onProgress)),
  cancelPush: (id: string, file: string) => commands.cancelPush(id, file),
  deadLetters: async (id: string, file: string) => unwrap(await commands.deadLetters(id, file)),
  listConflicts: async (id: string, file: string, includeResolved: boolean) =>
    unwrap(await commands.listConflicts(id, file, includeResolved)),
  resolveConflict: async (conflictId: number, keep: import("./bindings").ConflictSide) =>
    unwrap(await commands.resolveConflict(conflictId, keep)),
};
