//! `spoke conflicts | resolve`: two-way fields changed on both sides, listed with both values;
//! "ask" conflicts wait here until the user keeps one side. Same store as `spoke sync`.

use crate::deadletters::mapping_names;
use crate::output::{Failure, Out};
use clap::{Args, ValueEnum};
use spoke_engine::{Conflict, ConflictSide, Store};
use std::path::Path;

#[derive(Args, Debug)]
pub struct ConflictsArgs {
    /// Connection id, label or portal id (all connections when left out).
    pub connection: Option<String>,
    /// Also list conflicts already settled (by a policy or by you), with the side kept.
    #[arg(long)]
    pub all: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Keep {
    /// Keep the local value; the next `spoke push` writes it to HubSpot.
    Local,
    /// Keep HubSpot's value; it replaces the local one now.
    Hubspot,
}

#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// The conflict's id (see `spoke conflicts`).
    pub id: i64,
    /// Which side to keep.
    #[arg(long, value_enum)]
    pub keep: Keep,
}

fn side(s: Option<ConflictSide>) -> &'static str {
    match s {
        Some(ConflictSide::Local) => "kept local",
        Some(ConflictSide::HubSpot) => "kept HubSpot",
        None => "open",
    }
}

fn render(list: &[Conflict]) -> String {
    if list.is_empty() {
        return "No open conflicts: every two-way field agrees with HubSpot or was settled by its policy.".to_owned();
    }
    list.iter()
        .map(|c| {
            format!(
                "#{} {} / {} ({})  {}  {} [{}]\n  local:   {:?}{}\n  HubSpot: {:?}{}",
                c.id,
                c.mapping,
                c.row_key,
                c.hubspot_id,
                c.property,
                side(c.kept),
                c.policy.label(),
                c.local_value.as_deref().unwrap_or(""),
                c.local_changed_at
                    .as_deref()
                    .map(|t| format!("  edited {t}"))
                    .unwrap_or_default(),
                c.hubspot_value.as_deref().unwrap_or(""),
                c.hubspot_changed_at
                    .as_deref()
                    .map(|t| format!("  set {t}"))
                    .unwrap_or_default(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub async fn list(dir: &Path, args: &ConflictsArgs, out: &Out) -> Result<(), Failure> {
    let store = Store::open(dir.join("store.db"))?;
    let mut list = store.conflicts(None, args.all)?;
    if let Some(connection) = &args.connection {
        let names = mapping_names(dir, connection).await?;
        list.retain(|c| names.contains(&c.mapping));
    }
    out.print(&list, || {
        let mut text = render(&list);
        if list.iter().any(|c| c.kept.is_none()) {
            text.push_str("\nKeep one side with `spoke resolve ID --keep local|hubspot`.");
        }
        text
    })
}

pub async fn resolve(dir: &Path, args: &ResolveArgs, out: &Out) -> Result<(), Failure> {
    let store = Store::open(dir.join("store.db"))?;
    let keep = match args.keep {
        Keep::Local => ConflictSide::Local,
        Keep::Hubspot => ConflictSide::HubSpot,
    };
    let c = store.resolve_conflict(args.id, keep)?;
    out.print(&c, || match keep {
        ConflictSide::Local => format!(
            "Conflict #{} settled: the local {} {:?} is kept; `spoke push CONNECTION {:?}` writes it to HubSpot.",
            c.id,
            c.property,
            c.local_value.as_deref().unwrap_or(""),
            c.mapping
        ),
        ConflictSide::HubSpot => format!(
            "Conflict #{} settled: HubSpot's {} {:?} is now in the local row.",
            c.id,
            c.property,
            c.hubspot_value.as_deref().unwrap_or("")
        ),
    })
}
