//! The one error type of `spoke-engine`.

use spoke_hubspot::Describe;

/// Everything that can go wrong in `spoke-engine`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the local store at {path} could not be used: {reason}")]
    Store { path: String, reason: String },

    #[error("{0}")]
    HubSpot(#[from] spoke_hubspot::Error),

    #[error("{0}")]
    Mapping(#[from] spoke_mapping::Error),

    #[error("the mapping {mapping:?} writes to the admin's own table {table:?}; Spoke edits only tables in its own store")]
    UnsupportedDestination { mapping: String, table: String },

    #[error("the destination {destination} could not be used: {reason}")]
    Destination { destination: String, reason: String },

    #[error("the destination {destination} does not fit the mapping: {problem}")]
    DestinationSchema {
        destination: String,
        problem: String,
        fix: String,
    },

    /// A PostgreSQL destination problem, naming the picker's field to fix.
    #[error("{}: {message}", problem.field())]
    Postgres {
        problem: crate::pg::PgProblem,
        message: String,
        fix: String,
    },

    #[error("the local store has no table {table:?}")]
    NoSuchTable { table: String },

    #[error("a sync into {table:?} is already running")]
    Busy { table: String },

    #[error("HubSpot sent an answer the sync engine could not use: {0}")]
    Unexpected(String),

    #[error("the sync stopped to keep {reserve} of today's HubSpot API calls for other tools ({remaining} left)")]
    DailyReserve { remaining: u64, reserve: u64 },

    #[error("the mapping {mapping:?} has no dead letter for the row {row_key:?}")]
    NoSuchDeadLetter { mapping: String, row_key: String },

    #[error("notes can be synced as comments for contacts, companies, deals and tickets, not {object:?}")]
    CommentsUnsupported { object: String },

    #[error("there is no conflict {id}")]
    NoSuchConflict { id: i64 },

    #[error("conflict {id} is already settled (kept {kept})")]
    ConflictResolved { id: i64, kept: String },
    #[error("the schedule's {field} {reason}")]
    InvalidSchedule { field: String, reason: String },

    #[error("the public webhook URL {url:?} {reason}")]
    InvalidWebhookUrl { url: String, reason: String },

    #[error("the webhook receiver could not start on {address}: {reason}")]
    WebhookReceiver { address: String, reason: String },

    #[error("the table {table:?} has no column {column:?} (its columns: {known})")]
    UnknownColumn {
        table: String,
        column: String,
        known: String,
    },

    #[error("the column {column:?} cannot be edited here: {reason}")]
    ReadOnlyColumn { column: String, reason: String },

    #[error("{column}: {message}")]
    InvalidValue {
        column: String,
        value: String,
        expected: String,
        message: String,
    },

    #[error("the table {table:?} has no row {row_id}")]
    NoSuchRow { table: String, row_id: i64 },

    #[error("a row needs a value in {column:?}, the mapping's match key")]
    MissingKey { column: String },

    #[error("the new row for {table:?} has no values")]
    EmptyRow { table: String },

    #[error("row {row_id} of {table:?} is HubSpot record {hubspot_id}; only rows not in HubSpot yet can be discarded")]
    InHubSpot {
        table: String,
        row_id: i64,
        hubspot_id: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn store(path: &str, e: impl std::fmt::Display) -> Error {
        Error::Store {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    }
}

impl Describe for Error {
    fn code(&self) -> &'static str {
        match self {
            Error::Store { .. } => "engine.store",
            Error::HubSpot(inner) => inner.code(),
            Error::Mapping(inner) => inner.code(),
            Error::UnsupportedDestination { .. } => "engine.unsupported_destination",
            Error::Destination { .. } => "engine.destination",
            Error::DestinationSchema { .. } => "engine.destination_schema",
            Error::Postgres { problem, .. } => problem.code(),
            Error::NoSuchTable { .. } => "engine.no_such_table",
            Error::Busy { .. } => "engine.busy",
            Error::Unexpected(_) => "engine.unexpected_response",
            Error::DailyReserve { .. } => "engine.daily_reserve",
            Error::NoSuchDeadLetter { .. } => "engine.no_such_dead_letter",
            Error::CommentsUnsupported { .. } => "engine.comments_unsupported",
            Error::NoSuchConflict { .. } => "engine.no_such_conflict",
            Error::ConflictResolved { .. } => "engine.conflict_resolved",
            Error::InvalidSchedule { .. } => "engine.invalid_schedule",
            Error::InvalidWebhookUrl { .. } => "engine.invalid_webhook_url",
            Error::WebhookReceiver { .. } => "engine.webhook_receiver",
            Error::UnknownColumn { .. } => "engine.unknown_column",
            Error::ReadOnlyColumn { .. } => "engine.read_only_column",
            Error::InvalidValue { .. } => "engine.invalid_value",
            Error::NoSuchRow { .. } => "engine.no_such_row",
            Error::MissingKey { .. } => "engine.missing_key",
            Error::EmptyRow { .. } => "engine.empty_row",
            Error::InHubSpot { .. } => "engine.in_hubspot",
        }
    }

    fn hint(&self) -> Option<String> {
        let text = match self {
            Error::Store { .. } => "Check that the app data folder is writable and the disk is not full; if the file is damaged, move it aside and run a full sync.",
            Error::HubSpot(inner) => return inner.hint(),
            Error::Mapping(inner) => return inner.hint(),
            Error::UnsupportedDestination { .. } => "Edit the rows in your own database (the next push picks the changes up from there), or map into a Spoke table.",
            Error::Destination { .. } => "Check that the database is reachable and the user may write the table (for PostgreSQL: the URL, and the password saved in the keychain for it); the sync resumes where it stopped.",
            Error::DestinationSchema { fix, .. } => return Some(fix.clone()),
            Error::Postgres { fix, .. } => return Some(fix.clone()),
            Error::NoSuchTable { .. } => "Run a sync of a mapping into this table first.",
            Error::Busy { .. } => "Wait for the running sync to finish, or cancel it.",
            Error::Unexpected(_) => "Check that the connection points at HubSpot's API (or the demo portal), then try again.",
            Error::DailyReserve { .. } => "Sync again after HubSpot's daily reset (midnight in the portal's time zone); it resumes where it stopped. Or lower the daily reserve in the sync settings.",
            Error::NoSuchDeadLetter { .. } => "List the dead letters (spoke deadletters) and use a row key from there, or resend all of them.",
            Error::CommentsUnsupported { .. } => "Sync comments on a contacts, companies, deals or tickets mapping; notes on custom objects are not synced yet.",
            Error::NoSuchConflict { .. } => "List the open conflicts (spoke conflicts) and use an id from there.",
            Error::ConflictResolved { .. } => "Nothing to do: list the open conflicts with spoke conflicts; to change the value now, edit the row and sync again.",
            Error::InvalidSchedule { .. } => "Pick a minute from 0 to 59 and an hour from 0 to 23.",
            Error::InvalidWebhookUrl { .. } => "Enter the https:// address of a tunnel (e.g. https://abc.example.com/hubspot) that forwards to Spoke's local webhook address, exactly as it is set as the target URL in your HubSpot app's Webhooks settings; leave it empty to poll.",
            Error::WebhookReceiver { .. } => "Close the program using that port, or set SPOKE_WEBHOOK_PORT to a free one; until then real-time schedules poll every minute.",
            Error::UnknownColumn { .. } => "Use one of the listed columns; a column appears once the mapping maps it.",
            Error::ReadOnlyColumn { .. } => "Edit the mapping (Mapping screen) to send this field to HubSpot, or change the value in HubSpot and sync.",
            Error::InvalidValue { column, expected, .. } => return Some(format!("Enter {expected} in {column}, or leave it empty.")),
            Error::NoSuchRow { .. } => "The row was removed (by a sync or another program); reload the table.",
            Error::MissingKey { column } => return Some(format!("Enter the {column} the record has (or will have) in HubSpot; Spoke matches rows to records by it.")),
            Error::EmptyRow { .. } => "Fill in at least the match key column.",
            Error::InHubSpot { .. } => "Archive the record in HubSpot instead; the next sync marks the row archived.",
        };
        Some(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_namespaced_and_hub_errors_keep_theirs() {
        let e = Error::store("/x.db", "disk full");
        assert_eq!(e.code(), "engine.store");
        assert!(e.hint().unwrap().contains("writable"));
        let h = Error::from(spoke_hubspot::Error::DailyLimitReached);
        assert_eq!(h.code(), "hubspot.daily_limit_reached");
        assert!(h.hint().unwrap().contains("midnight"));
        let p = Error::Busy { table: "t".into() }.problem();
        assert_eq!(p.code, "engine.busy");
    }
}
