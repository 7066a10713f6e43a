//! Mapping model, suggestions, transforms, criteria → filterGroups, dry-run.
//!
//! A [`Mapping`] ties one HubSpot object to one local table (in Spoke's own SQLite file, or an
//! existing table in the admin's) and says which properties go to which columns and back.
//!
//! - Discovery: [`discover_objects`], [`discover_properties`] (cached per connection, refreshable,
//!   vanished properties kept and flagged), [`discover_sqlite_table`].
//! - Editing help: [`suggest`], [`validate`], [`validate_columns`], [`compile_criteria`].
//! - Files: [`Mapping::from_json_str`], [`Mapping::to_json_pretty`], [`import_mapping`].
//! - Running: [`apply_inbound`], [`apply_outbound`], [`dry_run`], [`compile_lookup`].
//! - Previews on live data: [`preview_inbound`], [`preview_outbound`] (samples from HubSpot or the
//!   local table, each with what the other side holds today).

mod apply;
mod catalog;
mod criteria;
mod error;
mod library;
mod local;
mod locate;
mod model;
mod preview;
mod suggest;
mod transform;
mod validate;

#[cfg(test)]
mod fuzz;

pub use apply::{
    apply_inbound, apply_outbound, apply_outbound_checked, dry_run, preview_field, preview_field_outbound, Action,
    DryRunRow, DryRunSample, FieldPreview, HubSpotProperties, HubSpotRecord,
};
pub use catalog::{
    discover_objects, discover_properties, EnumOption, ObjectCatalog, ObjectDirectory,
    ObjectSummary, PropertyDef, PropertyGroup, PropertyType, STANDARD_OBJECTS,
};
pub use criteria::{
    compile_criteria, compile_lookup, compile_with_limits, lookup_columns, matches, resolve_lookup,
    with_engine_filters, Criterion, CriterionValue, Filter, FilterGroup, Limits, Operator,
    CRITERIA_LIMITS, HUBSPOT_LIMITS,
};
pub use error::{Error, Result};
pub use library::{slug, MappingEntry, MappingLibrary};
pub use local::{
    create_table_sql, discover_sqlite_table, ensure_table, list_sqlite_tables, LocalColumn,
    LocalRow, LocalTable, LocalType, LocalValue,
};
pub use model::{
    natural_local_type, ConflictPolicy, Destination, Direction, FieldMapping, LocalDeletes,
    Mapping, MatchKey, TwoWay, FORMAT_VERSION,
};
pub use preview::{
    find_by_lookup, find_hubspot_records, find_local_rows, preview_inbound, preview_outbound, preview_outbound_rows,
    read_local_rows, sample_records,
};
pub use suggest::{suggest, Candidate, Suggestion, AUTO_PICK};
pub use transform::{to_local_value, Case, Transform};
pub use validate::{
    import_mapping, import_mapping_file, postgres_url_problem, validate, validate_columns,
    Compatibility, Imported,
    Issue, Severity,
};
