//! The scope catalog and planner: pick objects × read/write, get the HubSpot scopes to request,
//! start from a playbook preset, and after consent see granted-vs-needed per object with the fix.

use serde::{Deserialize, Serialize};

use crate::store::AuthMethod;

/// What a connection can be asked to reach.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, specta::Type,
)]
#[serde(rename_all = "camelCase")]
pub enum ScopeObject {
    Contacts,
    Companies,
    Deals,
    Tickets,
    LineItems,
    Products,
    /// Records of the portal's custom objects.
    CustomObjects,
    /// Definitions (schemas) of custom objects.
    CustomSchemas,
    /// Notes (and other engagements logged on records).
    Notes,
    /// Files, including attachments on notes.
    Files,
    /// Conversations inbox threads and messages.
    Conversations,
    /// HubSpot users who own records.
    Owners,
}

impl ScopeObject {
    pub const ALL: [ScopeObject; 12] = [
        ScopeObject::Contacts,
        ScopeObject::Companies,
        ScopeObject::Deals,
        ScopeObject::Tickets,
        ScopeObject::LineItems,
        ScopeObject::Products,
        ScopeObject::CustomObjects,
        ScopeObject::CustomSchemas,
        ScopeObject::Notes,
        ScopeObject::Files,
        ScopeObject::Conversations,
        ScopeObject::Owners,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ScopeObject::Contacts => "Contacts",
            ScopeObject::Companies => "Companies",
            ScopeObject::Deals => "Deals",
            ScopeObject::Tickets => "Tickets",
            ScopeObject::LineItems => "Line items",
            ScopeObject::Products => "Products",
            ScopeObject::CustomObjects => "Custom objects",
            ScopeObject::CustomSchemas => "Custom object definitions",
            ScopeObject::Notes => "Notes",
            ScopeObject::Files => "Files and attachments",
            ScopeObject::Conversations => "Conversations",
            ScopeObject::Owners => "Owners",
        }
    }

    /// Objects that can be read but never written through a scope of their own.
    pub fn writable(self) -> bool {
        !matches!(self, ScopeObject::Owners)
    }
}

/// Read, or read and write.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, specta::Type,
)]
#[serde(rename_all = "camelCase")]
pub enum Access {
    Read,
    /// Includes read: writing (upserts, dedupe) needs to look records up.
    Write,
}

/// One pick in the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectAccess {
    pub object: ScopeObject,
    pub access: Access,
}

impl ObjectAccess {
    pub const fn read(object: ScopeObject) -> ObjectAccess {
        ObjectAccess {
            object,
            access: Access::Read,
        }
    }
    pub const fn write(object: ScopeObject) -> ObjectAccess {
        ObjectAccess {
            object,
            access: Access::Write,
        }
    }
}

/// One HubSpot scope, explained in one plain sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScopeInfo {
    pub scope: &'static str,
    pub explanation: &'static str,
}

const CATALOG: &[(&str, &str)] = &[
    (
        "oauth",
        "Lets Spoke identify the portal it is connected to; HubSpot adds it to every OAuth app.",
    ),
    (
        "crm.objects.contacts.read",
        "See contacts and their properties.",
    ),
    (
        "crm.objects.contacts.write",
        "Create, update and delete contacts; HubSpot also requires it to write notes.",
    ),
    (
        "crm.schemas.contacts.read",
        "See the definitions of contact properties, including custom ones.",
    ),
    (
        "crm.objects.companies.read",
        "See companies and their properties.",
    ),
    (
        "crm.objects.companies.write",
        "Create, update and delete companies.",
    ),
    (
        "crm.schemas.companies.read",
        "See the definitions of company properties, including custom ones.",
    ),
    (
        "crm.objects.deals.read",
        "See deals, their amounts and pipeline stages.",
    ),
    (
        "crm.objects.deals.write",
        "Create, update and delete deals.",
    ),
    (
        "crm.schemas.deals.read",
        "See the definitions of deal properties, including custom ones.",
    ),
    ("tickets", "See, create and update support tickets."),
    (
        "crm.schemas.tickets.read",
        "See the definitions of ticket properties, including custom ones.",
    ),
    (
        "crm.objects.line_items.read",
        "See the line items attached to deals and quotes.",
    ),
    (
        "crm.objects.line_items.write",
        "Create, update and delete line items.",
    ),
    ("crm.objects.products.read", "See the product library."),
    (
        "crm.objects.products.write",
        "Create, update and delete products.",
    ),
    (
        "crm.objects.custom.read",
        "See records of the portal's custom objects.",
    ),
    (
        "crm.objects.custom.write",
        "Create, update and delete records of custom objects.",
    ),
    (
        "crm.schemas.custom.read",
        "See which custom objects exist and how they are defined.",
    ),
    (
        "crm.schemas.custom.write",
        "Create and change custom object definitions.",
    ),
    (
        "crm.objects.notes.read",
        "See notes logged on records (the newer scope for notes).",
    ),
    (
        "files",
        "See, download and upload files in the file manager: comments (notes as comments) need it to download and attach their files.",
    ),
    (
        "files.ui_hidden.read",
        "See files hidden from the file manager, which is where most note attachments live.",
    ),
    (
        "conversations.read",
        "See conversation inbox threads and messages.",
    ),
    (
        "conversations.write",
        "Send messages and update threads in the conversations inbox.",
    ),
    (
        "crm.objects.owners.read",
        "See the HubSpot users who own records, to map owners by name or email.",
    ),
];

/// Every scope the planner knows, each with its plain explanation.
pub fn catalog() -> Vec<ScopeInfo> {
    CATALOG
        .iter()
        .map(|(scope, explanation)| ScopeInfo { scope, explanation })
        .collect()
}

/// The plain explanation of a scope, if the catalog knows it.
pub fn explain(scope: &str) -> Option<&'static str> {
    CATALOG.iter().find(|(s, _)| *s == scope).map(|(_, e)| *e)
}

/// `(required, optional)` scopes for one pick.
fn scopes_for(pick: ObjectAccess) -> (Vec<&'static str>, Vec<&'static str>) {
    let write = pick.access == Access::Write && pick.object.writable();
    let standard = |read: &'static str, write_scope: &'static str, schema: &'static str| {
        let mut required = vec![read];
        if write {
            required.push(write_scope);
        }
        (required, vec![schema])
    };
    match pick.object {
        ScopeObject::Contacts => standard(
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.schemas.contacts.read",
        ),
        ScopeObject::Companies => standard(
            "crm.objects.companies.read",
            "crm.objects.companies.write",
            "crm.schemas.companies.read",
        ),
        ScopeObject::Deals => standard(
            "crm.objects.deals.read",
            "crm.objects.deals.write",
            "crm.schemas.deals.read",
        ),
        ScopeObject::Tickets => (vec!["tickets"], vec!["crm.schemas.tickets.read"]),
        ScopeObject::LineItems => {
            let mut required = vec!["crm.objects.line_items.read"];
            if write {
                required.push("crm.objects.line_items.write");
            }
            (required, vec![])
        }
        ScopeObject::Products => {
            let mut required = vec!["crm.objects.products.read"];
            if write {
                required.push("crm.objects.products.write");
            }
            (required, vec![])
        }
        ScopeObject::CustomObjects => {
            let mut required = vec!["crm.objects.custom.read", "crm.schemas.custom.read"];
            if write {
                required.push("crm.objects.custom.write");
            }
            (required, vec![])
        }
        ScopeObject::CustomSchemas => {
            let mut required = vec!["crm.schemas.custom.read"];
            if write {
                required.push("crm.schemas.custom.write");
            }
            (required, vec![])
        }
        // The notes API accepts the contact scopes; the newer notes scope is asked for optionally,
        // and so is `files`: comments download their notes' attachments (and upload new ones)
        // through the Files API; without it they sync without their files.
        ScopeObject::Notes => {
            let mut required = vec!["crm.objects.contacts.read"];
            if write {
                required.push("crm.objects.contacts.write");
            }
            (required, vec!["crm.objects.notes.read", "files"])
        }
        ScopeObject::Files => (vec!["files"], vec!["files.ui_hidden.read"]),
        ScopeObject::Conversations => {
            let mut required = vec!["conversations.read"];
            if write {
                required.push("conversations.write");
            }
            (required, vec![])
        }
        ScopeObject::Owners => (vec!["crm.objects.owners.read"], vec![]),
    }
}

/// Scopes for one object in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectScopes {
    pub object: ScopeObject,
    pub access: Access,
    pub required: Vec<String>,
    pub optional: Vec<String>,
}

/// What to ask HubSpot for: `scope` and `optional_scope` of the authorize URL, or the scopes to
/// tick on a service key / private app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScopePlan {
    pub required: Vec<String>,
    pub optional: Vec<String>,
    pub objects: Vec<ObjectScopes>,
}

fn push_unique(list: &mut Vec<String>, scope: &str) {
    if !list.iter().any(|s| s == scope) {
        list.push(scope.to_owned());
    }
}

/// Normalizes picks: one entry per object, the strongest access wins, in catalog order.
fn normalize(picks: &[ObjectAccess]) -> Vec<ObjectAccess> {
    let mut out: Vec<ObjectAccess> = Vec::new();
    for pick in picks {
        match out.iter_mut().find(|p| p.object == pick.object) {
            Some(existing) => existing.access = existing.access.max(pick.access),
            None => out.push(*pick),
        }
    }
    out.sort_by_key(|p| ScopeObject::ALL.iter().position(|o| *o == p.object));
    out
}

/// The scopes a set of picks needs. OAuth plans always include `oauth`.
pub fn plan(picks: &[ObjectAccess], method: AuthMethod) -> ScopePlan {
    let mut required = Vec::new();
    let mut optional = Vec::new();
    if method == AuthMethod::OAuth {
        push_unique(&mut required, "oauth");
    }
    let mut objects = Vec::new();
    for pick in normalize(picks) {
        let (req, opt) = scopes_for(pick);
        for scope in &req {
            push_unique(&mut required, scope);
        }
        for scope in &opt {
            push_unique(&mut optional, scope);
        }
        objects.push(ObjectScopes {
            object: pick.object,
            access: if pick.object.writable() {
                pick.access
            } else {
                Access::Read
            },
            required: req.iter().map(|s| s.to_string()).collect(),
            optional: opt.iter().map(|s| s.to_string()).collect(),
        });
    }
    // A scope that some object requires is not also optional.
    optional.retain(|scope| !required.contains(scope));
    ScopePlan {
        required,
        optional,
        objects,
    }
}

/// A starting point taken from a product's HubSpot playbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct Preset {
    pub id: &'static str,
    pub product: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub picks: Vec<ObjectAccess>,
}

/// Presets from the seed guides' playbooks.
pub fn presets() -> Vec<Preset> {
    use ScopeObject::*;
    let r = ObjectAccess::read;
    let w = ObjectAccess::write;
    vec![
        Preset {
            id: "bridged.activation",
            product: "Bridged",
            name: "Activation",
            description:
                "Read contacts (and their companies) from HubSpot to broadcast WhatsApp messages.",
            picks: vec![r(Contacts), r(Companies)],
        },
        Preset {
            id: "bridged.qualification-agent",
            product: "Bridged",
            name: "Qualification agent",
            description:
                "Read a contact's history, score it, and write the score back to the contact.",
            picks: vec![w(Contacts), r(Companies), r(Notes)],
        },
        Preset {
            id: "bridged.nurture-conversion",
            product: "Bridged",
            name: "Nurture & conversion",
            description:
                "Write qualified contacts, deals and conversation outcomes (as notes) to HubSpot.",
            picks: vec![w(Contacts), w(Deals), w(Notes)],
        },
        Preset {
            id: "bridged.conversations",
            product: "Bridged",
            name: "Conversations",
            description:
                "Sync chat conversations and messages with the HubSpot inbox, linked to contacts.",
            picks: vec![w(Conversations), r(Contacts)],
        },
        Preset {
            id: "opshub.deals-tickets",
            product: "OpsHub",
            name: "Deals, tickets, notes and attachments",
            description: "Two-way sync of deals and tickets with their notes and file attachments.",
            picks: vec![
                w(Deals),
                w(Tickets),
                w(Notes),
                w(Files),
                r(Contacts),
                r(Owners),
            ],
        },
        Preset {
            id: "tajo.brevo-two-way",
            product: "Tajo / Brevo",
            name: "Two-way CRM sync",
            description:
                "Two-way sync of contacts, companies, deals and custom objects with Brevo.",
            picks: vec![w(Contacts), w(Companies), w(Deals), w(CustomObjects)],
        },
    ]
}

/// Whether one object's needs are met after consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ObjectScopeStatus {
    pub object: ScopeObject,
    pub access: Access,
    pub satisfied: bool,
    pub missing_required: Vec<String>,
    pub missing_optional: Vec<String>,
    /// How to close the gap, in plain words; `None` when nothing required is missing.
    pub fix: Option<String>,
}

/// Granted versus needed, per object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct ScopeReport {
    pub all_satisfied: bool,
    pub objects: Vec<ObjectScopeStatus>,
    /// Granted scopes nothing in the plan needs (fine, but worth knowing).
    pub unused: Vec<String>,
}

/// The fix for missing scopes, worded for how the connection authenticates.
pub fn fix_for(missing: &[String], method: AuthMethod) -> String {
    let list = missing.join(", ");
    match method {
        AuthMethod::Token => format!(
            "In HubSpot, open the service key (Development → Keys → Service keys) or private app, add {list} to its scopes and save. \
             Then regenerate (rotate) the key, copy the new token and paste it into Spoke: the old token keeps its old scopes."
        ),
        AuthMethod::OAuth => format!(
            "Add {list} to the app's scopes in HubSpot (the app's Auth settings), then click Reconnect and approve the new scopes."
        ),
    }
}

/// Compares granted scopes with what `picks` need.
pub fn report(picks: &[ObjectAccess], granted: &[String], method: AuthMethod) -> ScopeReport {
    let plan = plan(picks, method);
    let has = |scope: &String| granted.iter().any(|g| g == scope);
    let objects: Vec<ObjectScopeStatus> = plan
        .objects
        .iter()
        .map(|o| {
            let missing_required: Vec<String> =
                o.required.iter().filter(|s| !has(s)).cloned().collect();
            let missing_optional: Vec<String> =
                o.optional.iter().filter(|s| !has(s)).cloned().collect();
            ObjectScopeStatus {
                object: o.object,
                access: o.access,
                satisfied: missing_required.is_empty(),
                fix: (!missing_required.is_empty()).then(|| fix_for(&missing_required, method)),
                missing_required,
                missing_optional,
            }
        })
        .collect();
    let needed: Vec<&String> = plan.required.iter().chain(plan.optional.iter()).collect();
    let unused = granted
        .iter()
        .filter(|g| !needed.contains(g))
        .cloned()
        .collect();
    ScopeReport {
        all_satisfied: objects.iter().all(|o| o.satisfied),
        objects,
        unused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ScopeObject::*;

    #[test]
    fn every_planned_scope_is_explained_in_the_catalog() {
        for object in ScopeObject::ALL {
            for access in [Access::Read, Access::Write] {
                let p = plan(&[ObjectAccess { object, access }], AuthMethod::OAuth);
                for scope in p.required.iter().chain(p.optional.iter()) {
                    let text =
                        explain(scope).unwrap_or_else(|| panic!("{scope} is not in the catalog"));
                    assert!(text.ends_with('.') && text.len() > 15, "{scope}: {text}");
                }
            }
        }
        let scopes: Vec<_> = catalog().iter().map(|s| s.scope).collect();
        let mut dedup = scopes.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(scopes.len(), dedup.len(), "catalog has duplicates");
    }

    #[test]
    fn write_implies_read_and_oauth_is_added_for_oauth_only() {
        let p = plan(
            &[ObjectAccess::write(Deals), ObjectAccess::read(Contacts)],
            AuthMethod::OAuth,
        );
        assert_eq!(
            p.required,
            [
                "oauth",
                "crm.objects.contacts.read",
                "crm.objects.deals.read",
                "crm.objects.deals.write"
            ]
        );
        assert_eq!(
            p.optional,
            ["crm.schemas.contacts.read", "crm.schemas.deals.read"]
        );
        let t = plan(&[ObjectAccess::read(Contacts)], AuthMethod::Token);
        assert_eq!(t.required, ["crm.objects.contacts.read"]);
    }

    #[test]
    fn duplicate_picks_merge_to_the_strongest_access() {
        let p = plan(
            &[
                ObjectAccess::read(Contacts),
                ObjectAccess::write(Contacts),
                ObjectAccess::read(Contacts),
            ],
            AuthMethod::Token,
        );
        assert_eq!(p.objects.len(), 1);
        assert_eq!(p.objects[0].access, Access::Write);
        assert!(p
            .required
            .contains(&"crm.objects.contacts.write".to_owned()));
    }

    #[test]
    fn notes_and_custom_objects_pull_in_what_hubspot_really_checks() {
        let p = plan(&[ObjectAccess::write(Notes)], AuthMethod::Token);
        assert_eq!(
            p.required,
            ["crm.objects.contacts.read", "crm.objects.contacts.write"]
        );
        // Comments download and attach their notes' files through the Files API.
        assert_eq!(p.optional, ["crm.objects.notes.read", "files"]);
        assert!(explain("files").unwrap().contains("comments"));
        let p = plan(&[ObjectAccess::read(CustomObjects)], AuthMethod::Token);
        assert_eq!(
            p.required,
            ["crm.objects.custom.read", "crm.schemas.custom.read"]
        );
        let p = plan(&[ObjectAccess::write(Owners)], AuthMethod::Token);
        assert_eq!(
            (p.objects[0].access, p.required.clone()),
            (Access::Read, vec!["crm.objects.owners.read".to_owned()])
        );
    }

    #[test]
    fn presets_follow_the_playbooks() {
        let all = presets();
        let ids: Vec<_> = all.iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            [
                "bridged.activation",
                "bridged.qualification-agent",
                "bridged.nurture-conversion",
                "bridged.conversations",
                "opshub.deals-tickets",
                "tajo.brevo-two-way"
            ]
        );
        let opshub = plan(&all[4].picks, AuthMethod::OAuth);
        for scope in [
            "crm.objects.deals.write",
            "tickets",
            "crm.objects.contacts.write",
            "files",
        ] {
            assert!(
                opshub.required.iter().any(|s| s == scope),
                "OpsHub needs {scope}"
            );
        }
        let tajo = plan(&all[5].picks, AuthMethod::Token);
        for scope in [
            "crm.objects.contacts.write",
            "crm.objects.companies.write",
            "crm.objects.deals.write",
            "crm.objects.custom.write",
            "crm.schemas.custom.read",
        ] {
            assert!(
                tajo.required.iter().any(|s| s == scope),
                "Tajo needs {scope}"
            );
        }
        let conversations = plan(&all[3].picks, AuthMethod::OAuth);
        assert!(conversations
            .required
            .contains(&"conversations.write".to_owned()));
    }

    #[test]
    fn report_lists_gaps_per_object_with_a_method_specific_fix() {
        let granted: Vec<String> = [
            "crm.objects.contacts.read",
            "crm.objects.contacts.write",
            "crm.objects.deals.read",
            "automation",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let picks = [ObjectAccess::write(Contacts), ObjectAccess::write(Deals)];
        let token = report(&picks, &granted, AuthMethod::Token);
        assert!(!token.all_satisfied);
        assert!(token.objects[0].satisfied);
        assert_eq!(
            token.objects[0].missing_optional,
            ["crm.schemas.contacts.read"]
        );
        assert_eq!(
            token.objects[1].missing_required,
            ["crm.objects.deals.write"]
        );
        let fix = token.objects[1].fix.as_deref().unwrap();
        assert!(
            fix.contains("crm.objects.deals.write") && fix.contains("regenerate"),
            "{fix}"
        );
        assert_eq!(token.unused, ["automation"]);
        let oauth = report(&picks, &granted, AuthMethod::OAuth);
        assert!(oauth.objects[1]
            .fix
            .as_deref()
            .unwrap()
            .contains("Reconnect"));
        let full: Vec<String> = plan(&picks, AuthMethod::OAuth).required;
        assert!(report(&picks, &full, AuthMethod::OAuth).all_satisfied);
    }
}
