//! The one error type of `spoke-mapping`.

use spoke_hubspot::Describe;

/// Everything that can go wrong in `spoke-mapping`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A HubSpot call failed (discovery).
    #[error(transparent)]
    HubSpot(#[from] spoke_hubspot::Error),

    #[error("{object_type:?} is not a valid HubSpot object type")]
    InvalidObjectType { object_type: String },

    #[error("HubSpot has no object type {object_type:?} in this portal")]
    UnknownObject { object_type: String },

    #[error("could not use the property cache at {path}: {reason}")]
    Cache { path: String, reason: String },

    #[error("could not open the SQLite file {path}: {reason}")]
    Sqlite { path: String, reason: String },

    #[error("the SQLite file {path} has no table named {table:?}")]
    NoSuchTable { path: String, table: String },

    #[error("could not {action} the mapping file {path}: {reason}")]
    File {
        action: &'static str,
        path: String,
        reason: String,
    },

    #[error("the mapping file is invalid at line {line}, column {column}: {reason}")]
    InvalidFile {
        line: usize,
        column: usize,
        reason: String,
    },

    #[error("the mapping file uses format version {found}; this Spoke reads version {supported}")]
    UnsupportedVersion { found: u64, supported: u64 },

    #[error("the mapping has {count} problem(s): {}", summary(issues))]
    InvalidMapping { count: usize, issues: Vec<String> },

    /// `index` counts from 0; the message counts from 1.
    #[error("condition {} on {field}: {reason}", index + 1)]
    Criterion {
        index: usize,
        field: String,
        reason: String,
    },

    #[error("the criteria need {needed} {what}, but HubSpot search allows {allowed} ({reserved} kept for the sync engine's own filters)")]
    FilterLimit {
        what: &'static str,
        needed: usize,
        allowed: usize,
        reserved: usize,
    },

    #[error("the lookup placeholder @{column}@ has no value in this row")]
    LookupValueMissing { column: String },

    #[error("{field}: {reason}")]
    Transform { field: String, reason: String },

    #[error("HubSpot would refuse {property}: {reason}")]
    WriteRefused { property: String, reason: String },

    #[error("required field {field} is empty")]
    RequiredEmpty { field: String },

    #[error("the match key {key} is empty, so the record cannot be matched")]
    MissingMatchKey { key: String },
}

fn summary(issues: &[String]) -> String {
    let mut text = issues
        .iter()
        .take(3)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if issues.len() > 3 {
        text.push_str(&format!("; and {} more", issues.len() - 3));
    }
    text
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::HubSpot(inner) => inner.code(),
            Error::InvalidObjectType { .. } => "mapping.invalid_object_type",
            Error::UnknownObject { .. } => "mapping.unknown_object",
            Error::Cache { .. } => "mapping.cache",
            Error::Sqlite { .. } => "mapping.sqlite",
            Error::NoSuchTable { .. } => "mapping.no_such_table",
            Error::File { .. } => "mapping.file",
            Error::InvalidFile { .. } => "mapping.invalid_file",
            Error::UnsupportedVersion { .. } => "mapping.unsupported_version",
            Error::InvalidMapping { .. } => "mapping.invalid_mapping",
            Error::Criterion { .. } => "mapping.invalid_criterion",
            Error::FilterLimit { .. } => "mapping.filter_limit",
            Error::LookupValueMissing { .. } => "mapping.lookup_value_missing",
            Error::Transform { .. } => "mapping.transform_failed",
            Error::WriteRefused { .. } => "mapping.write_refused",
            Error::RequiredEmpty { .. } => "mapping.required_empty",
            Error::MissingMatchKey { .. } => "mapping.missing_match_key",
        }
    }

    fn hint(&self) -> Option<String> {
        let text = match self {
            Error::HubSpot(inner) => return inner.hint(),
            Error::InvalidObjectType { .. } => "Use an object name such as contacts, or a custom object's id such as 2-1234567.",
            Error::UnknownObject { .. } => "Pick an object from the portal's list; custom objects are named by their id (2-…) or fully qualified name.",
            Error::Cache { .. } => "Check that the folder exists and is writable, or refresh the properties to rebuild the cache.",
            Error::Sqlite { .. } => "Check the file path and that the file is an SQLite database Spoke may read.",
            Error::NoSuchTable { .. } => "Pick one of the tables in that file, or let Spoke create the table in its own database.",
            Error::File { .. } => "Check the path, and that Spoke may read and write there.",
            Error::InvalidFile { .. } => "Fix the JSON at that line (a missing comma or quote, or a misspelled key), then import again.",
            Error::UnsupportedVersion { .. } => "Export the mapping again from a Spoke of the same version, or update Spoke.",
            Error::InvalidMapping { .. } => "Fix the listed fields in the mapping editor; each problem names the field and the reason.",
            Error::Criterion { .. } => "Use the property's internal name, a condition such as EQUALS or IN, and a value of the property's type.",
            Error::FilterLimit { .. } => "Remove some conditions, or combine several EQUALS on one field into a single IN condition.",
            Error::LookupValueMissing { .. } => "Fill that column in the local row, or change the lookup to use a column that is always set.",
            Error::Transform { .. } => "Change the value at the source, or adjust the field's transforms (for example a number format or an enum value map).",
            Error::WriteRefused { .. } => "Set the field's direction to HubSpot → local, or map the value to one of the property's options.",
            Error::RequiredEmpty { .. } => "Fill the field at the source, give it a default value, or untick 'required'.",
            Error::MissingMatchKey { .. } => "Fill the match key at the source, or choose a match key that every record has.",
        };
        Some(text.to_owned())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_namespaced_and_hints_exist() {
        let err = Error::FilterLimit {
            what: "filters in one group",
            needed: 5,
            allowed: 4,
            reserved: 2,
        };
        assert_eq!(err.code(), "mapping.filter_limit");
        assert!(err.to_string().contains("allows 4"));
        assert!(err.hint().unwrap().contains("IN"));
        let problem = Error::Transform {
            field: "amount".into(),
            reason: "'123;456' is not a number".into(),
        }
        .problem();
        assert_eq!(problem.code, "mapping.transform_failed");
        assert_eq!(problem.message, "amount: '123;456' is not a number");
        let wrapped = Error::from(spoke_hubspot::Error::NotFound {
            message: None,
            correlation_id: None,
        });
        assert_eq!(wrapped.code(), "hubspot.not_found");
    }
}
