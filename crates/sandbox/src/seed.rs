//! Deterministic demo data: the same seed always yields the same portal.

use crate::model::*;
use crate::util::{days_from_civil_pub, iso_date, iso_ms};
use std::collections::{BTreeMap, HashMap};

/// SplitMix64: tiny, fast, and stable across dependency upgrades (unlike `StdRng`).
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Sophia", "Elijah", "Isabella", "Mateo",
    "Mia", "Lucas", "Charlotte", "Levi", "Harper", "Ethan", "Evelyn", "James", "Aria", "Sebastian",
    "Priya", "Arjun", "Mei", "Hiroshi", "Fatima", "Omar", "Chloe", "Julien", "Ingrid", "Lars",
    "Camila", "Diego", "Zoe", "Nathan", "Aisha", "Kwame", "Hannah", "Jonas", "Sofia", "Marco",
    "Grace", "Daniel", "Leah", "Samuel", "Nora", "Gabriel", "Ava", "Henry", "Maya", "Owen",
    "Elena", "Tomás", "Yuki", "Ravi", "Amara", "Felix", "Clara", "Anders", "Lucía", "Kofi",
];
const LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Nguyen", "Patel", "Kim", "Chen", "Müller", "Schmidt", "Dubois", "Rossi", "Silva",
    "Okafor", "Mensah", "Larsen", "Novak", "Kowalski", "Tanaka", "Sato", "O'Brien", "Murphy",
];
const CO_A: &[&str] = &[
    "Blue", "North", "Bright", "Summit", "Cedar", "Iron", "Silver", "Harbor", "Granite", "Maple",
    "Pioneer", "Atlas", "Beacon", "Crescent", "Evergreen", "Falcon", "Horizon", "Keystone",
    "Lumen", "Meridian", "Nimbus", "Orchard", "Quarry", "Redwood", "Sterling", "Tidal", "Vertex",
];
const CO_B: &[&str] = &[
    "Analytics", "Logistics", "Robotics", "Health", "Foods", "Energy", "Software", "Capital",
    "Labs", "Systems", "Media", "Dynamics", "Networks", "Outfitters", "Manufacturing", "Bio",
    "Learning", "Security", "Mobility", "Studios",
];
const CO_C: &[&str] = &["Inc.", "LLC", "Group", "Co.", "Partners", "Ltd", "GmbH", "Corp."];
const PERSONAL: &[&str] = &["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "hotmail.com"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Boston", "MA", "United States"), ("Cambridge", "MA", "United States"),
    ("Austin", "TX", "United States"), ("Denver", "CO", "United States"),
    ("Chicago", "IL", "United States"), ("Seattle", "WA", "United States"),
    ("San Francisco", "CA", "United States"), ("New York", "NY", "United States"),
    ("Atlanta", "GA", "United States"), ("Toronto", "ON", "Canada"), ("Dublin", "", "Ireland"),
    ("London", "", "United Kingdom"), ("Berlin", "", "Germany"), ("Paris", "", "France"),
    ("Sydney", "NSW", "Australia"), ("Singapore", "", "Singapore"), ("Tokyo", "", "Japan"),
    ("Bogotá", "", "Colombia"), ("Amsterdam", "", "Netherlands"), ("Stockholm", "", "Sweden"),
];
const TITLES: &[&str] = &[
    "VP of Sales", "Marketing Manager", "Head of Operations", "CTO", "CEO", "Account Executive",
    "Customer Success Manager", "Software Engineer", "Procurement Lead", "Director of Finance",
    "RevOps Analyst", "Product Manager", "Office Manager", "Founder", "Data Engineer",
];
const INDUSTRIES: &[(&str, &str)] = &[
    ("COMPUTER_SOFTWARE", "Computer Software"), ("FINANCIAL_SERVICES", "Financial Services"),
    ("HOSPITAL_HEALTH_CARE", "Hospital & Health Care"), ("RETAIL", "Retail"),
    ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
    ("LOGISTICS_AND_SUPPLY_CHAIN", "Logistics and Supply Chain"),
    ("FOOD_BEVERAGES", "Food & Beverages"), ("RENEWABLES_ENVIRONMENT", "Renewables & Environment"),
    ("EDUCATION_MANAGEMENT", "Education Management"), ("MACHINERY", "Machinery"),
];
const LIFECYCLE: &[(&str, &str)] = &[
    ("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
    ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"),
];
const LEAD_STATUS: &[(&str, &str)] = &[
    ("NEW", "New"), ("OPEN", "Open"), ("IN_PROGRESS", "In Progress"), ("OPEN_DEAL", "Open Deal"),
    ("UNQUALIFIED", "Unqualified"), ("ATTEMPTED_TO_CONTACT", "Attempted to Contact"),
    ("CONNECTED", "Connected"), ("BAD_TIMING", "Bad Timing"),
];
/// HubSpot's default "Sales Pipeline" stages with their probabilities.
pub const DEAL_STAGES: &[(&str, &str, f64)] = &[
    ("appointmentscheduled", "Appointment Scheduled", 0.2),
    ("qualifiedtobuy", "Qualified To Buy", 0.4),
    ("presentationscheduled", "Presentation Scheduled", 0.6),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 0.8),
    ("contractsent", "Contract Sent", 0.9),
    ("closedwon", "Closed Won", 1.0),
    ("closedlost", "Closed Lost", 0.0),
];
const TICKET_STAGES: &[(&str, &str)] = &[("1", "New"), ("2", "Waiting on contact"), ("3", "Waiting on us"), ("4", "Closed")];
const TICKET_SUBJECTS: &[&str] = &[
    "Cannot log in after password reset", "Invoice shows the wrong VAT number",
    "Export to CSV times out", "Request: SSO with Okta", "Data import stuck at 99%",
    "Webhook deliveries delayed", "How do I add a second pipeline?", "Billing address change",
    "Mobile app crashes on launch", "Duplicate contacts after sync",
];
const NOTE_BODIES: &[&str] = &[
    "Discussed Q3 rollout; they want a pilot with the EMEA team first.",
    "Left voicemail, will follow up Thursday.",
    "Budget approved by finance. Sending the order form today.",
    "Concerned about data residency — shared our EU hosting docs.",
    "Intro call went well. Champion is the Head of Ops.",
    "Asked for a security questionnaire (SOC 2 report attached).",
    "Renewal conversation: wants multi-year pricing.",
    "Met at the Boston meetup, interested in the API.",
];
const PROJECTS: &[&str] = &[
    "Website relaunch", "CRM migration", "Data warehouse", "Onboarding revamp", "EU expansion",
    "Partner portal", "Mobile app v2", "Billing overhaul", "Support automation", "Brand refresh",
];

fn slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'é' | 'è' => Some('e'),
            'á' => Some('a'),
            'ü' => Some('u'),
            'í' => Some('i'),
            _ => None,
        })
        .collect()
}

/// The fixed "now" of the seeded history, so data never depends on the wall clock.
pub fn seed_epoch_ms() -> i64 {
    days_from_civil_pub(2026, 10, 1) * 86_400_000
}

fn common_props(t: &mut ObjectType) {
    t.add_prop(PropDef::new("hs_object_id", "Record ID", PType::Number, "objectinformation")
        .desc("The unique ID for this record. This value is set automatically by HubSpot.")
        .derived(Derived::Id));
    let c = t.created_prop();
    let m = t.modified_prop();
    t.add_prop(PropDef::new(c, "Create Date", PType::DateTime, "objectinformation")
        .desc("The date and time at which this object was created.")
        .derived(Derived::Created));
    t.add_prop(PropDef::new(m, "Last Modified Date", PType::DateTime, "objectinformation")
        .desc("Most recent timestamp of any property update for this object.")
        .derived(Derived::Modified));
    t.add_prop(PropDef::new("hs_merged_object_ids", "Merged record IDs", PType::Enumeration, "objectinformation")
        .field("checkbox")
        .desc("The list of record IDs that have been merged into this record.")
        .read_only());
    t.add_prop(PropDef::new("hubspot_owner_id", "Record owner", PType::Enumeration, "sales_properties")
        .desc("The owner of the object.")
        .field("select"));
}

#[allow(clippy::too_many_arguments)]
fn new_type(type_id: &str, name: &str, singular: &str, plural: &str, custom: bool, portal: u64, primary: &str, searchable: &[&str], defaults: &[&str], read: Vec<&'static str>, write: Vec<&'static str>, schema_read: Vec<&'static str>) -> ObjectType {
    let epoch = seed_epoch_ms() - 3 * 365 * 86_400_000;
    let mut t = ObjectType {
        type_id: type_id.into(),
        name: name.into(),
        upper: singular.to_uppercase().replace(' ', "_"),
        singular: singular.into(),
        plural: plural.into(),
        custom,
        fqn: if custom { format!("p{portal}_{name}") } else { name.into() },
        primary_display: primary.into(),
        secondary_display: Vec::new(),
        searchable: searchable.iter().map(|s| s.to_string()).collect(),
        required: vec![primary.to_string()],
        description: String::new(),
        props: Vec::new(),
        prop_idx: HashMap::new(),
        groups: Vec::new(),
        records: BTreeMap::new(),
        archived: BTreeMap::new(),
        modified_idx: Default::default(),
        created_idx: Default::default(),
        unique: HashMap::new(),
        merged_into: HashMap::new(),
        history: HashMap::new(),
        last_history_value: HashMap::new(),
        default_props: defaults.iter().map(|s| s.to_string()).collect(),
        read_scopes: read,
        write_scopes: write,
        schema_read_scopes: schema_read,
        schema_write_scopes: Vec::new(),
        created_ms: epoch,
        updated_ms: epoch,
    };
    let group_label = format!("{singular} information");
    t.groups = vec![
        GroupDef { name: format!("{}information", singular.to_lowercase().replace(' ', "")), label: group_label, display_order: 0, archived: false },
        GroupDef { name: "objectinformation".into(), label: "Object information".into(), display_order: 1, archived: false },
        GroupDef { name: "sales_properties".into(), label: "Sales properties".into(), display_order: 2, archived: false },
        GroupDef { name: "spoke_demo".into(), label: "Spoke demo (custom)".into(), display_order: 3, archived: false },
    ];
    common_props(&mut t);
    t
}

/// Builds the schema: every standard type, one custom object, and custom properties of every type.
pub fn build_types(portal: u64, owners: &[Owner]) -> Vec<ObjectType> {
    let owner_opts: Vec<(String, String)> = owners.iter().map(|o| (o.id.to_string(), format!("{} {}", o.first, o.last))).collect();
    let owner_opts: Vec<(&str, &str)> = owner_opts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let cw = |s: &'static str| vec![s];
    let mut contacts = new_type("0-1", "contacts", "Contact", "Contacts", false, portal, "email",
        &["firstname", "lastname", "email", "phone", "company"],
        &["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
        cw("crm.objects.contacts.read"), cw("crm.objects.contacts.write"), vec!["crm.schemas.contacts.read", "crm.objects.contacts.read"]);
    contacts.secondary_display = vec!["firstname".into(), "lastname".into()];
    // Contacts answer to both modification-date names.
    contacts.add_prop(PropDef::new("hs_lastmodifieddate", "Object last modified date/time", PType::DateTime, "objectinformation").derived(Derived::Modified));
    {
        let g = "contactinformation";
        let t = &mut contacts;
        t.add_prop(PropDef::new("email", "Email", PType::String, g).desc("A contact's email address.").field("text"));
        t.add_prop(PropDef::new("firstname", "First Name", PType::String, g).desc("A contact's first name."));
        t.add_prop(PropDef::new("lastname", "Last Name", PType::String, g).desc("A contact's last name."));
        t.add_prop(PropDef::new("phone", "Phone Number", PType::String, g).field("phonenumber").desc("A contact's primary phone number."));
        t.add_prop(PropDef::new("company", "Company Name", PType::String, g).desc("Name of the contact's company."));
        t.add_prop(PropDef::new("jobtitle", "Job Title", PType::String, g).desc("A contact's job title."));
        t.add_prop(PropDef::new("city", "City", PType::String, g).desc("A contact's city of residence."));
        t.add_prop(PropDef::new("state", "State/Region", PType::String, g).desc("The contact's state of residence."));
        t.add_prop(PropDef::new("country", "Country/Region", PType::String, g).desc("The contact's country/region of residence."));
        t.add_prop(PropDef::new("lifecyclestage", "Lifecycle Stage", PType::Enumeration, g).field("radio").options(LIFECYCLE).desc("The qualification of contacts to sales readiness."));
        t.add_prop(PropDef::new("hs_lead_status", "Lead Status", PType::Enumeration, "sales_properties").field("radio").options(LEAD_STATUS).desc("The contact's sales, prospecting or outreach status."));
        t.add_prop(PropDef::new("num_associated_deals", "Number of Associated Deals", PType::Number, "sales_properties").calculated().desc("The number of deals associated with this contact. Set automatically by HubSpot."));
    }
    let mut companies = new_type("0-2", "companies", "Company", "Companies", false, portal, "name",
        &["name", "domain", "website", "phone"],
        &["createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"],
        cw("crm.objects.companies.read"), cw("crm.objects.companies.write"), vec!["crm.schemas.companies.read", "crm.objects.companies.read"]);
    companies.secondary_display = vec!["domain".into()];
    // Companies also expose the legacy `createdate` name.
    companies.add_prop(PropDef::new("createdate", "Create Date", PType::DateTime, "objectinformation").derived(Derived::Created));
    {
        let g = "companyinformation";
        let t = &mut companies;
        t.add_prop(PropDef::new("name", "Company name", PType::String, g).desc("The name of the company or organization."));
        t.add_prop(PropDef::new("domain", "Company Domain Name", PType::String, g).desc("The domain name of the company or organization."));
        t.add_prop(PropDef::new("website", "Website URL", PType::String, g).desc("The main website of the company or organization."));
        t.add_prop(PropDef::new("phone", "Phone Number", PType::String, g).field("phonenumber").desc("A company's primary phone number."));
        t.add_prop(PropDef::new("industry", "Industry", PType::Enumeration, g).options(INDUSTRIES).desc("The type of business the company performs."));
        t.add_prop(PropDef::new("city", "City", PType::String, g).desc("The city where the company is located."));
        t.add_prop(PropDef::new("country", "Country/Region", PType::String, g).desc("The country/region in which the company is located."));
        t.add_prop(PropDef::new("numberofemployees", "Number of Employees", PType::Number, g).desc("The total number of employees who work for the company."));
        t.add_prop(PropDef::new("annualrevenue", "Annual Revenue", PType::Number, g).hint("currency").desc("The actual or estimated annual revenue of the company."));
        t.add_prop(PropDef::new("lifecyclestage", "Lifecycle Stage", PType::Enumeration, g).field("radio").options(LIFECYCLE).desc("The qualification of companies to sales readiness."));
    }
    let mut deals = new_type("0-3", "deals", "Deal", "Deals", false, portal, "dealname",
        &["dealname"],
        &["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id", "pipeline"],
        cw("crm.objects.deals.read"), cw("crm.objects.deals.write"), vec!["crm.schemas.deals.read", "crm.objects.deals.read"]);
    deals.add_prop(PropDef::new("createdate", "Create Date", PType::DateTime, "objectinformation").derived(Derived::Created));
    {
        let g = "dealinformation";
        let t = &mut deals;
        let stages: Vec<(&str, &str)> = DEAL_STAGES.iter().map(|(a, b, _)| (*a, *b)).collect();
        t.add_prop(PropDef::new("dealname", "Deal Name", PType::String, g).desc("The name given to this deal."));
        t.add_prop(PropDef::new("amount", "Amount", PType::Number, g).hint("currency").desc("The total amount of the deal."));
        t.add_prop(PropDef::new("pipeline", "Pipeline", PType::Enumeration, g).options(&[("default", "Sales Pipeline")]).desc("The pipeline the deal is in."));
        t.add_prop(PropDef::new("dealstage", "Deal Stage", PType::Enumeration, g).field("radio").options(&stages).desc("The stage of the deal."));
        t.add_prop(PropDef::new("closedate", "Close Date", PType::DateTime, g).desc("Date the deal was closed. Set automatically by HubSpot."));
        t.add_prop(PropDef::new("dealtype", "Deal Type", PType::Enumeration, g).field("radio").options(&[("newbusiness", "New Business"), ("existingbusiness", "Existing Business")]).desc("The type of deal."));
        t.add_prop(PropDef::new("hs_deal_stage_probability", "Deal Stage Probability", PType::Number, g).calculated().hint("probability").desc("The probability a deal will close. This is set by the deal stage."));
    }
    let mut tickets = new_type("0-5", "tickets", "Ticket", "Tickets", false, portal, "subject",
        &["subject", "content"],
        &["content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"],
        cw("tickets"), cw("tickets"), vec!["tickets", "crm.schemas.tickets.read"]);
    tickets.add_prop(PropDef::new("createdate", "Create date", PType::DateTime, "objectinformation").derived(Derived::Created));
    {
        let g = "ticketinformation";
        let t = &mut tickets;
        t.add_prop(PropDef::new("subject", "Ticket name", PType::String, g).desc("Short summary of ticket"));
        t.add_prop(PropDef::new("content", "Ticket description", PType::String, g).field("textarea").desc("Text in body of the ticket"));
        t.add_prop(PropDef::new("hs_pipeline", "Pipeline", PType::Enumeration, g).options(&[("0", "Support Pipeline")]).desc("The pipeline that contains this ticket"));
        t.add_prop(PropDef::new("hs_pipeline_stage", "Ticket status", PType::Enumeration, g).options(TICKET_STAGES).desc("The pipeline stage that contains this ticket"));
        t.add_prop(PropDef::new("hs_ticket_priority", "Priority", PType::Enumeration, g).options(&[("LOW", "Low"), ("MEDIUM", "Medium"), ("HIGH", "High"), ("URGENT", "Urgent")]).desc("The level of attention needed on the ticket"));
        t.add_prop(PropDef::new("hs_ticket_category", "Category", PType::Enumeration, g).field("checkbox").options(&[("PRODUCT_ISSUE", "Product issue"), ("BILLING_ISSUE", "Billing issue"), ("FEATURE_REQUEST", "Feature request"), ("GENERAL_INQUIRY", "General inquiry")]).desc("The main reason the customer reached out for help"));
    }
    let mut notes = new_type("0-46", "notes", "Note", "Notes", false, portal, "hs_note_body",
        &["hs_note_body"], &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        vec!["crm.objects.contacts.read", "crm.objects.notes.read"], cw("crm.objects.contacts.write"), vec!["crm.objects.contacts.read", "crm.objects.notes.read"]);
    notes.add_prop(PropDef::new("hs_note_body", "Note body", PType::String, "engagement").field("html").desc("The body of the note."));
    notes.add_prop(PropDef::new("hs_timestamp", "Activity date", PType::DateTime, "engagement").desc("The date the activity occurred."));
    notes.add_prop(PropDef::new("hs_attachment_ids", "Attachment IDs", PType::String, "engagement").field("text").desc("The IDs of the files attached to the note, separated by semicolons."));
    let mut calls = new_type("0-48", "calls", "Call", "Calls", false, portal, "hs_call_title",
        &["hs_call_title", "hs_call_body"], &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        cw("crm.objects.contacts.read"), cw("crm.objects.contacts.write"), vec!["crm.objects.contacts.read"]);
    {
        let t = &mut calls;
        let g = "engagement";
        t.add_prop(PropDef::new("hs_call_title", "Call Title", PType::String, g).desc("The title of the call."));
        t.add_prop(PropDef::new("hs_call_body", "Call notes", PType::String, g).field("html").desc("The notes of the call."));
        t.add_prop(PropDef::new("hs_call_duration", "Call duration", PType::Number, g).hint("duration").desc("The duration of the call in milliseconds."));
        t.add_prop(PropDef::new("hs_call_direction", "Call direction", PType::Enumeration, g).options(&[("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")]).desc("The direction of the call."));
        t.add_prop(PropDef::new("hs_call_status", "Call status", PType::Enumeration, g).options(&[("COMPLETED", "Completed"), ("BUSY", "Busy"), ("NO_ANSWER", "No answer"), ("FAILED", "Failed")]).desc("The status of the call."));
        t.add_prop(PropDef::new("hs_timestamp", "Activity date", PType::DateTime, g).desc("The date the activity occurred."));
    }
    let mut projects = new_type("2-3508482", "projects", "Project", "Projects", true, portal, "project_name",
        &["project_name", "project_code"], &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        vec!["crm.objects.custom.read"], vec!["crm.objects.custom.write"], vec!["crm.schemas.custom.read", "crm.objects.custom.read"]);
    projects.description = "Customer implementation projects tracked by the services team.".into();
    projects.secondary_display = vec!["project_code".into(), "status".into()];
    projects.required = vec!["project_name".into()];
    {
        let g = "projectinformation";
        let t = &mut projects;
        t.add_prop(PropDef::new("project_name", "Project name", PType::String, g).custom().desc("Name of the project."));
        t.add_prop(PropDef::new("project_code", "Project code", PType::String, g).custom().unique().desc("Unique project code, e.g. PRJ-00042."));
        t.add_prop(PropDef::new("status", "Status", PType::Enumeration, g).custom().options(&[("planned", "Planned"), ("in_progress", "In progress"), ("on_hold", "On hold"), ("done", "Done")]).desc("Where the project stands."));
        t.add_prop(PropDef::new("budget", "Budget", PType::Number, g).custom().hint("currency").desc("Approved budget in the company currency."));
        t.add_prop(PropDef::new("start_date", "Start date", PType::Date, g).custom().desc("Kick-off date."));
        t.add_prop(PropDef::new("is_billable", "Billable", PType::Bool, g).custom().options(&[("true", "Yes"), ("false", "No")]).desc("Whether the project is billable."));
    }
    let mut types = vec![contacts, companies, deals, tickets, notes, calls, projects];
    for t in types.iter_mut() {
        for p in t.props.iter_mut() {
            if p.name == "hubspot_owner_id" {
                p.options = PropDef::new("x", "x", PType::Enumeration, "x").options(&owner_opts).options;
            }
        }
        let g = "spoke_demo";
        // Custom properties of every type on every standard object.
        t.add_prop(PropDef::new("spoke_score", "Spoke score", PType::Number, g).custom().desc("A custom number property (0–100)."));
        t.add_prop(PropDef::new("spoke_tier", "Spoke tier", PType::Enumeration, g).custom().options(&[("bronze", "Bronze"), ("silver", "Silver"), ("gold", "Gold"), ("platinum", "Platinum")]).desc("A custom enumeration property."));
        t.add_prop(PropDef::new("spoke_opt_in", "Spoke opt-in", PType::Bool, g).custom().options(&[("true", "Yes"), ("false", "No")]).desc("A custom single checkbox."));
        t.add_prop(PropDef::new("spoke_renewal_date", "Spoke renewal date", PType::Date, g).custom().desc("A custom date property (midnight UTC)."));
        t.add_prop(PropDef::new("spoke_last_seen_at", "Spoke last seen at", PType::DateTime, g).custom().desc("A custom datetime property."));
        t.add_prop(PropDef::new("spoke_legacy_ids", "Spoke legacy IDs", PType::Number, g).custom().desc("A number property that, like many real portals, sometimes holds several ids separated by ';'."));
        t.add_prop(PropDef::new("spoke_notes", "Spoke notes", PType::String, g).custom().field("textarea").desc("A custom multi-line text property."));
        t.add_prop(PropDef::new("spoke_interests", "Spoke interests", PType::Enumeration, g).custom().field("checkbox").options(&[("api", "API"), ("sync", "Sync"), ("reporting", "Reporting"), ("security", "Security")]).desc("A custom multiple-checkbox property."));
        t.add_prop(PropDef::new("spoke_days_as_customer", "Spoke days as customer", PType::Number, g).custom().calculated().desc("A calculated, read-only property."));
        let now = t.created_ms;
        for p in t.props.iter_mut() {
            p.created_ms = now;
            p.updated_ms = now;
        }
    }
    types
}

/// A new, empty custom object type (schema API).
#[allow(clippy::too_many_arguments)]
pub fn new_custom_type(type_id: &str, name: &str, singular: &str, plural: &str, portal: u64, primary: &str, now: i64) -> ObjectType {
    let mut t = new_type(type_id, name, singular, plural, true, portal, primary, &[], &["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
        vec!["crm.objects.custom.read"], vec!["crm.objects.custom.write"], vec!["crm.schemas.custom.read", "crm.objects.custom.read"]);
    t.created_ms = now;
    t.updated_ms = now;
    for p in t.props.iter_mut() {
        p.created_ms = now;
        p.updated_ms = now;
    }
    t
}

fn define_associations(a: &mut AssocStore) {
    // Indices: 0 contacts, 1 companies, 2 deals, 3 tickets, 4 notes, 5 calls, 6 projects.
    let h = "HUBSPOT_DEFINED";
    a.define(0, 1, 279, 280, None, h, "contact_to_company_unlabeled");
    a.define(0, 1, 1, 2, Some("Primary"), h, "contact_to_company");
    a.define(2, 0, 3, 4, None, h, "deal_to_contact");
    a.define(2, 1, 341, 342, None, h, "deal_to_company_unlabeled");
    a.define(2, 1, 5, 6, Some("Primary"), h, "deal_to_company");
    a.define(3, 0, 16, 15, None, h, "ticket_to_contact");
    a.define(3, 1, 339, 340, None, h, "ticket_to_company_unlabeled");
    a.define(3, 1, 26, 25, Some("Primary"), h, "ticket_to_company");
    a.define(3, 2, 28, 27, None, h, "ticket_to_deal");
    a.define(4, 0, 202, 201, None, h, "note_to_contact");
    a.define(4, 1, 190, 189, None, h, "note_to_company");
    a.define(4, 2, 214, 213, None, h, "note_to_deal");
    a.define(4, 3, 228, 227, None, h, "note_to_ticket");
    a.define(5, 0, 194, 193, None, h, "call_to_contact");
    a.define(5, 1, 182, 181, None, h, "call_to_company");
    a.define(5, 2, 206, 205, None, h, "call_to_deal");
    a.define(6, 0, 1001, 1002, None, h, "project_to_contact");
    a.define(6, 1, 1003, 1004, None, h, "project_to_company");
    a.define(6, 2, 1005, 1006, None, h, "project_to_deal");
    // User-defined labels.
    let u = "USER_DEFINED";
    a.define(0, 1, 1101, 1102, Some("Billing contact"), u, "billing_contact");
    a.define(0, 1, 1103, 1104, Some("Former employee"), u, "former_employee");
    a.define(2, 0, 1105, 1106, Some("Decision maker"), u, "decision_maker");
    a.define(6, 0, 1107, 1108, Some("Project lead"), u, "project_lead");
    a.next_label_id = 1200;
}

pub struct SeedSizes {
    pub contacts: usize,
}

fn owners(rng: &mut Prng, created: i64) -> Vec<Owner> {
    let names = [
        ("Alex", "Rivera"), ("Sam", "Okoye"), ("Jordan", "Lindqvist"), ("Taylor", "Nakamura"),
        ("Morgan", "Fischer"), ("Casey", "Ibrahim"), ("Riley", "Costa"), ("Jamie", "Park"),
    ];
    let teams = [(41, "Inbound Sales"), (42, "Enterprise"), (43, "Customer Success")];
    names
        .iter()
        .enumerate()
        .map(|(i, (f, l))| {
            let t = teams[i % teams.len()];
            Owner {
                id: 81_000_000 + rng.below(900_000) * 10 + i as u64,
                user_id: 5_400_000 + i as u64 * 17,
                email: format!("{}.{}@northwind-demo.com", slug(f), slug(l)),
                first: f.to_string(),
                last: l.to_string(),
                created: created + i as i64 * 86_400_000,
                updated: created + i as i64 * 86_400_000 * 3,
                archived: i == names.len() - 1,
                team: Some((t.0, t.1.to_string())),
            }
        })
        .collect()
}

/// Generates the whole portal for `seed`, with `contacts` contacts and proportional other data.
pub fn build(seed: u64, portal_id: u64, sizes: SeedSizes) -> Store {
    let mut rng = Prng::new(seed);
    let now = seed_epoch_ms();
    let span = 3 * 365 * 86_400_000i64;
    let owners = owners(&mut rng, now - span);
    let active_owners: Vec<u64> = owners.iter().filter(|o| !o.archived).map(|o| o.id).collect();
    let types = build_types(portal_id, &owners);
    let mut store = Store {
        portal_id,
        portal_name: "Northwind Demo Co.".into(),
        types,
        assoc: AssocStore::default(),
        owners,
        threads: BTreeMap::new(),
        next_id: 101,
    };
    define_associations(&mut store.assoc);

    let n_contacts = sizes.contacts;
    let n_companies = (n_contacts / 5).clamp(1, 100_000);
    let n_deals = (n_contacts / 4).clamp(1, 100_000);
    let n_tickets = (n_contacts / 10).clamp(1, 50_000);
    let n_notes = (n_contacts / 3).clamp(1, 100_000);
    let n_calls = (n_contacts / 6).clamp(1, 50_000);
    let n_projects = (n_contacts / 25).clamp(3, 5_000);

    let ts = |rng: &mut Prng| -> (i64, i64) {
        let created = now - span + rng.below(span as u64) as i64;
        let updated = if rng.chance(60) { created + rng.below((now - created).max(1) as u64) as i64 } else { created };
        (created, updated)
    };

    // Companies first, so contacts can take their domains.
    let mut company_ids = Vec::with_capacity(n_companies);
    let mut company_domains = Vec::with_capacity(n_companies);
    {
        let t = &store.types[1];
        let k = |n: &str| t.prop_idx[n];
        let (kn, kd, kw, kp, ki, kc, kco, ke, kr, kl, ko, ks, kt, kren) = (k("name"), k("domain"), k("website"), k("phone"), k("industry"), k("city"), k("country"), k("numberofemployees"), k("annualrevenue"), k("lifecyclestage"), k("hubspot_owner_id"), k("spoke_score"), k("spoke_tier"), k("spoke_renewal_date"));
        let mut recs = Vec::with_capacity(n_companies);
        for i in 0..n_companies {
            let id = store.next_id;
            store.next_id += 1;
            let a = rng.pick(CO_A);
            let b = rng.pick(CO_B);
            let c = rng.pick(CO_C);
            let name = if i < 400 { format!("{a} {b} {c}") } else { format!("{a} {b} {} {c}", i / 400) };
            let tld = *rng.pick(&["com", "io", "co", "de", "co.uk", "ai", "net"]);
            let suffix = if i < 400 { String::new() } else { (i / 400).to_string() };
            let domain = format!("{}{}{suffix}.{tld}", slug(a), slug(b));
            let (city, _, country) = *rng.pick(CITIES);
            let (ind, _) = *rng.pick(INDUSTRIES);
            let emp = (10 + rng.below(5000)).to_string();
            let rev = (rng.below(500) * 100_000 + 250_000).to_string();
            let owner = rng.pick(&active_owners).to_string();
            let phone = format!("+1 {}-{}-{:04}", 200 + rng.below(700), 200 + rng.below(700), rng.below(10_000));
            let score = rng.below(101).to_string();
            let tier = rng.pick(&["bronze", "silver", "gold", "platinum"]).to_string();
            let renewal = iso_date(now + rng.below(400) as i64 * 86_400_000);
            let website = format!("https://www.{domain}");
            let (cr, up) = ts(&mut rng);
            let pairs: Vec<(u16, &str)> = vec![
                (kn, &name), (kd, &domain), (kw, &website), (kp, &phone), (ki, ind), (kc, city), (kco, country),
                (ke, &emp), (kr, &rev), (kl, "customer"), (ko, &owner), (ks, &score), (kt, &tier), (kren, &renewal),
            ];
            recs.push(Record::new(id, cr, up, &pairs));
            company_ids.push(id);
            company_domains.push(domain);
        }
        let t = &mut store.types[1];
        for r in recs {
            t.records.insert(r.id, r);
        }
    }

    // Contacts.
    let mut contact_ids = Vec::with_capacity(n_contacts);
    {
        let t = &store.types[0];
        let k = |n: &str| t.prop_idx[n];
        let (ke, kf, kl, kp, kc, kj, kci, kst, kco, klc, kls, ko, ks, kt, kopt, kren, kseen, kleg, knotes, kint, knd) = (
            k("email"), k("firstname"), k("lastname"), k("phone"), k("company"), k("jobtitle"), k("city"), k("state"), k("country"),
            k("lifecyclestage"), k("hs_lead_status"), k("hubspot_owner_id"), k("spoke_score"), k("spoke_tier"), k("spoke_opt_in"),
            k("spoke_renewal_date"), k("spoke_last_seen_at"), k("spoke_legacy_ids"), k("spoke_notes"), k("spoke_interests"), k("num_associated_deals"));
        let company_names: Vec<String> = company_ids.iter().map(|id| store.types[1].records[id].get(store.types[1].prop_idx["name"]).unwrap_or("").to_string()).collect();
        let mut recs = Vec::with_capacity(n_contacts);
        let mut links = Vec::with_capacity(n_contacts);
        for i in 0..n_contacts {
            let id = store.next_id;
            store.next_id += 1;
            let first = *rng.pick(FIRST);
            let last = *rng.pick(LAST);
            let ci = rng.below(company_ids.len() as u64) as usize;
            let works = rng.chance(85);
            let domain = if works { company_domains[ci].as_str() } else { *rng.pick(PERSONAL) };
            let email = format!("{}.{}{i}@{domain}", slug(first), slug(last));
            let (city, state, country) = *rng.pick(CITIES);
            let phone = if rng.chance(10) { String::new() } else { format!("+1 ({}) {}-{:04}", 200 + rng.below(700), 200 + rng.below(700), rng.below(10_000)) };
            let title = *rng.pick(TITLES);
            let (lc, _) = *rng.pick(LIFECYCLE);
            let (ls, _) = *rng.pick(LEAD_STATUS);
            let owner = rng.pick(&active_owners).to_string();
            // Messy values HubSpot really returns.
            let score = if rng.chance(5) { String::new() } else { rng.below(101).to_string() };
            let legacy = if rng.chance(4) { format!("{};{}", 3_000_000_000u64 + rng.below(999_999_999), 3_000_000_000u64 + rng.below(999_999_999)) } else if rng.chance(30) { (3_000_000_000u64 + rng.below(999_999_999)).to_string() } else { String::new() };
            let seen_ms = now - rng.below(90 * 86_400_000) as i64;
            let seen = if rng.chance(8) { format!("{seen_ms}.0") } else { iso_ms(seen_ms) };
            let tier = rng.pick(&["bronze", "silver", "gold", "platinum"]).to_string();
            let opt = if rng.chance(50) { "true" } else { "false" };
            let renewal = if rng.chance(3) { String::new() } else { iso_date(now + rng.below(365) as i64 * 86_400_000) };
            let interests = ["api", "sync", "reporting", "security"].iter().filter(|_| rng.chance(35)).copied().collect::<Vec<_>>().join(";");
            let note = if rng.chance(20) { format!("Met {first} at {}. Interested in {}.", rng.pick(&["SaaStr", "INBOUND", "a webinar", "the Boston meetup"]), rng.pick(&["the API", "two-way sync", "reporting"])) } else { String::new() };
            let company = if works { company_names[ci].clone() } else { String::new() };
            let (cr, up) = ts(&mut rng);
            let mut pairs: Vec<(u16, &str)> = vec![
                (ke, &email), (kf, first), (kl, last), (kj, title), (kci, city), (kco, country), (klc, lc), (kls, ls), (ko, &owner),
                (ks, &score), (kt, &tier), (kopt, opt), (kseen, &seen), (knd, "0"),
            ];
            if !state.is_empty() { pairs.push((kst, state)); }
            if !phone.is_empty() || rng.chance(50) { pairs.push((kp, &phone)); }
            if !company.is_empty() { pairs.push((kc, &company)); }
            if !legacy.is_empty() { pairs.push((kleg, &legacy)); }
            if !renewal.is_empty() || rng.chance(50) { pairs.push((kren, &renewal)); }
            if !interests.is_empty() { pairs.push((kint, &interests)); }
            if !note.is_empty() { pairs.push((knotes, &note)); }
            recs.push(Record::new(id, cr, up, &pairs));
            contact_ids.push(id);
            if works {
                links.push((id, company_ids[ci]));
            }
        }
        let t = &mut store.types[0];
        for r in recs {
            let id = r.id;
            t.records.insert(id, r);
            t.index_record(id);
        }
        for (c, co) in links {
            store.assoc.link(0, c, 1, co, 279);
            store.assoc.link(0, c, 1, co, 1);
        }
    }

    // Deals.
    let mut deal_ids = Vec::with_capacity(n_deals);
    {
        let t = &store.types[2];
        let k = |n: &str| t.prop_idx[n];
        let (kn, ka, kp, ks, kc, kt, ko, kpr, ksc) = (k("dealname"), k("amount"), k("pipeline"), k("dealstage"), k("closedate"), k("dealtype"), k("hubspot_owner_id"), k("hs_deal_stage_probability"), k("spoke_score"));
        let cname = store.types[1].prop_idx["name"];
        let mut recs = Vec::new();
        let mut links = Vec::new();
        for _ in 0..n_deals {
            let id = store.next_id;
            store.next_id += 1;
            let co = company_ids[rng.below(company_ids.len() as u64) as usize];
            let co_name = store.types[1].records.get(&co).and_then(|r| r.get(cname)).unwrap_or("Unknown").to_string();
            let short = co_name.split(' ').take(2).collect::<Vec<_>>().join(" ");
            let what = *rng.pick(&["Annual subscription", "Pilot", "Expansion", "Renewal", "Enterprise license", "Onboarding package", "Add-on seats"]);
            let name = format!("{short} – {what}");
            let amount = if rng.chance(3) { String::new() } else { format!("{}", (rng.below(240) + 5) * 500) };
            let (stage, _, prob) = *rng.pick(DEAL_STAGES);
            let close = iso_ms(now - 180 * 86_400_000 + rng.below(365 * 86_400_000) as i64);
            let dtype = if rng.chance(60) { "newbusiness" } else { "existingbusiness" };
            let owner = rng.pick(&active_owners).to_string();
            let prob = prob.to_string();
            let score = rng.below(101).to_string();
            let (cr, up) = ts(&mut rng);
            let pairs: Vec<(u16, &str)> = vec![(kn, &name), (ka, &amount), (kp, "default"), (ks, stage), (kc, &close), (kt, dtype), (ko, &owner), (kpr, &prob), (ksc, &score)];
            recs.push(Record::new(id, cr, up, &pairs));
            deal_ids.push(id);
            links.push((id, co));
        }
        let t = &mut store.types[2];
        for r in recs {
            t.records.insert(r.id, r);
        }
        for (d, co) in links {
            store.assoc.link(2, d, 1, co, 341);
            store.assoc.link(2, d, 1, co, 5);
            // One or two contacts of the deal's company, else any contact.
            let people: Vec<u64> = store.assoc.of(1, co, 0).into_iter().map(|(id, _)| id).take(2).collect();
            let people = if people.is_empty() { vec![contact_ids[rng.below(contact_ids.len() as u64) as usize]] } else { people };
            for (i, p) in people.iter().enumerate() {
                store.assoc.link(2, d, 0, *p, 3);
                if i == 0 && rng.chance(30) {
                    store.assoc.link(2, d, 0, *p, 1105);
                }
            }
        }
    }
    // num_associated_deals is calculated by HubSpot; compute it once.
    {
        let knd = store.types[0].prop_idx["num_associated_deals"];
        let counts: Vec<(u64, usize)> = store.assoc.edges.get(&(0, 2)).map(|m| m.iter().map(|(k, v)| (*k, v.len())).collect()).unwrap_or_default();
        for (c, n) in counts {
            if let Some(r) = store.types[0].records.get_mut(&c) {
                r.apply(&[(knd, n.to_string())]);
            }
        }
    }

    // Tickets.
    {
        let t = &store.types[3];
        let k = |n: &str| t.prop_idx[n];
        let (ks, kc, kp, kst, kpr, kcat, ko) = (k("subject"), k("content"), k("hs_pipeline"), k("hs_pipeline_stage"), k("hs_ticket_priority"), k("hs_ticket_category"), k("hubspot_owner_id"));
        let mut recs = Vec::new();
        let mut links = Vec::new();
        for _ in 0..n_tickets {
            let id = store.next_id;
            store.next_id += 1;
            let subject = *rng.pick(TICKET_SUBJECTS);
            let content = format!("{subject}. Customer reports it started {} and affects {} users.", rng.pick(&["yesterday", "after the last release", "this morning", "last week"]), 1 + rng.below(40));
            let (stage, _) = *rng.pick(TICKET_STAGES);
            let pri = *rng.pick(&["LOW", "MEDIUM", "HIGH", "URGENT"]);
            let cat = *rng.pick(&["PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY"]);
            let owner = rng.pick(&active_owners).to_string();
            let (cr, up) = ts(&mut rng);
            recs.push(Record::new(id, cr, up, &[(ks, subject), (kc, &content), (kp, "0"), (kst, stage), (kpr, pri), (kcat, cat), (ko, &owner)]));
            links.push((id, contact_ids[rng.below(contact_ids.len() as u64) as usize]));
        }
        let t = &mut store.types[3];
        for r in recs {
            t.records.insert(r.id, r);
        }
        for (tk, c) in links {
            store.assoc.link(3, tk, 0, c, 16);
            if let Some((co, _)) = store.assoc.of(0, c, 1).first() {
                let co = *co;
                store.assoc.link(3, tk, 1, co, 339);
            }
        }
    }

    // Notes and calls on contacts, companies and deals.
    for (ti, n) in [(4usize, n_notes), (5usize, n_calls)] {
        let mut recs = Vec::new();
        let mut links = Vec::new();
        for _ in 0..n {
            let id = store.next_id;
            store.next_id += 1;
            let (cr, up) = ts(&mut rng);
            let t = &store.types[ti];
            let k = |n: &str| t.prop_idx[n];
            let owner = rng.pick(&active_owners).to_string();
            let when = iso_ms(cr);
            let r = if ti == 4 {
                let body = format!("<p>{}</p>", rng.pick(NOTE_BODIES));
                Record::new(id, cr, up, &[(k("hs_note_body"), &body), (k("hs_timestamp"), &when), (k("hubspot_owner_id"), &owner)])
            } else {
                let dur = (rng.below(1800) * 1000).to_string();
                let dir = *rng.pick(&["INBOUND", "OUTBOUND"]);
                let st = *rng.pick(&["COMPLETED", "COMPLETED", "COMPLETED", "BUSY", "NO_ANSWER"]);
                let title = format!("{} call", rng.pick(&["Discovery", "Follow-up", "Demo", "Check-in", "Renewal"]));
                let body = rng.pick(NOTE_BODIES).to_string();
                Record::new(id, cr, up, &[(k("hs_call_title"), &title), (k("hs_call_body"), &body), (k("hs_call_duration"), &dur), (k("hs_call_direction"), dir), (k("hs_call_status"), st), (k("hs_timestamp"), &when), (k("hubspot_owner_id"), &owner)])
            };
            recs.push(r);
            let c = contact_ids[rng.below(contact_ids.len() as u64) as usize];
            let d = if rng.chance(30) { Some(deal_ids[rng.below(deal_ids.len() as u64) as usize]) } else { None };
            links.push((id, c, d));
        }
        let t = &mut store.types[ti];
        for r in recs {
            t.records.insert(r.id, r);
        }
        let (tc, tco, td) = if ti == 4 { (202, 190, 214) } else { (194, 182, 206) };
        for (e, c, d) in links {
            store.assoc.link(ti, e, 0, c, tc);
            if let Some((co, _)) = store.assoc.of(0, c, 1).first() {
                let co = *co;
                store.assoc.link(ti, e, 1, co, tco);
            }
            if let Some(d) = d {
                store.assoc.link(ti, e, 2, d, td);
            }
        }
    }

    // Custom object: projects.
    {
        let t = &store.types[6];
        let k = |n: &str| t.prop_idx[n];
        let (kn, kc, ks, kb, kd, kbill, ko) = (k("project_name"), k("project_code"), k("status"), k("budget"), k("start_date"), k("is_billable"), k("hubspot_owner_id"));
        let mut recs = Vec::new();
        let mut links = Vec::new();
        for i in 0..n_projects {
            let id = store.next_id;
            store.next_id += 1;
            let co = company_ids[rng.below(company_ids.len() as u64) as usize];
            let name = format!("{} #{}", rng.pick(PROJECTS), i + 1);
            let code = format!("PRJ-{:05}", i + 1);
            let status = *rng.pick(&["planned", "in_progress", "in_progress", "on_hold", "done"]);
            let budget = ((rng.below(90) + 10) * 1000).to_string();
            let start = iso_date(now - rng.below(300) as i64 * 86_400_000);
            let bill = if rng.chance(70) { "true" } else { "false" };
            let owner = rng.pick(&active_owners).to_string();
            let (cr, up) = ts(&mut rng);
            recs.push(Record::new(id, cr, up, &[(kn, &name), (kc, &code), (ks, status), (kb, &budget), (kd, &start), (kbill, bill), (ko, &owner)]));
            links.push((id, co));
        }
        let t = &mut store.types[6];
        for r in recs {
            let id = r.id;
            t.records.insert(id, r);
            t.index_record(id);
        }
        for (p, co) in links {
            store.assoc.link(6, p, 1, co, 1003);
            if let Some((c, _)) = store.assoc.of(1, co, 0).first() {
                let c = *c;
                store.assoc.link(6, p, 0, c, 1001);
                if rng.chance(50) {
                    store.assoc.link(6, p, 0, c, 1107);
                }
            }
        }
    }

    // Merged contacts: the survivor lists the merged-away ids, which redirect to it.
    {
        let kmerged = store.types[0].prop_idx["hs_merged_object_ids"];
        let n_merged = (n_contacts / 100).max(1);
        for i in 0..n_merged {
            let survivor = contact_ids[(i * 97 + 13) % contact_ids.len()];
            let losers: Vec<u64> = (0..1 + rng.below(2)).map(|_| { let id = store.next_id; store.next_id += 1; id }).collect();
            let list = losers.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(";");
            let t = &mut store.types[0];
            if let Some(r) = t.records.get_mut(&survivor) {
                r.apply(&[(kmerged, list)]);
            }
            for l in losers {
                t.merged_into.insert(l, survivor);
            }
        }
    }

    // Archived records (~2% of each type).
    for ti in 0..store.types.len() {
        let ids: Vec<u64> = store.types[ti].records.keys().copied().filter(|_| rng.chance(2)).collect();
        for id in ids {
            let t = &mut store.types[ti];
            t.unindex_record(id);
            if let Some(mut r) = t.records.remove(&id) {
                r.archived_at = r.updated + rng.below(30 * 86_400_000) as i64;
                t.archived.insert(id, r);
            }
            store.assoc.remove_record(ti, id);
        }
    }

    for t in store.types.iter_mut() {
        t.rebuild_time_index();
    }

    // Conversations: a few inbox threads with contacts.
    for i in 0..(n_contacts / 50).clamp(3, 200) {
        let c = contact_ids[(i * 31 + 7) % contact_ids.len()];
        let Some(r) = store.types[0].records.get(&c) else { continue };
        let kemail = store.types[0].prop_idx["email"];
        let kfirst = store.types[0].prop_idx["firstname"];
        let email = r.get(kemail).unwrap_or("").to_string();
        let first = r.get(kfirst).unwrap_or("").to_string();
        let created = now - rng.below(60 * 86_400_000) as i64;
        let tid = 7_000_000_000 + i as u64 * 13;
        let subject = rng.pick(TICKET_SUBJECTS).to_string();
        let mut messages = vec![Message {
            id: format!("{:032x}", rng.next_u64() as u128 * 7 + i as u128),
            created,
            text: format!("Hi, {}. Can you help? Thanks, {first}", subject.to_lowercase()),
            direction: "INCOMING",
            sender_actor: format!("V-{}", 60_000_000 + i as u64),
            sender_name: first.clone(),
            sender_email: email.clone(),
            recipient_email: "support@northwind-demo.com".into(),
            subject: Some(subject.clone()),
        }];
        let owner = &store.owners[i % (store.owners.len() - 1)];
        if rng.chance(60) {
            messages.push(Message {
                id: format!("{:032x}", rng.next_u64() as u128 * 11 + i as u128),
                created: created + 3_600_000,
                text: format!("Hi {first}, thanks for reaching out — we're looking into it now."),
                direction: "OUTGOING",
                sender_actor: format!("A-{}", owner.user_id),
                sender_name: format!("{} {}", owner.first, owner.last),
                sender_email: owner.email.clone(),
                recipient_email: email.clone(),
                subject: Some(format!("Re: {subject}")),
            });
        }
        let closed = rng.chance(40);
        store.threads.insert(tid, Thread {
            id: tid,
            contact_id: c,
            inbox_id: 147_959_634,
            channel_id: 1002,
            channel_account_id: 240_876_001,
            status: if closed { "CLOSED" } else { "OPEN" },
            created,
            closed: closed.then_some(created + 86_400_000),
            assigned_to: Some(owner.id),
            archived: false,
            messages,
        });
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic() {
        let a = build(7, 1, SeedSizes { contacts: 300 });
        let b = build(7, 1, SeedSizes { contacts: 300 });
        let c = build(8, 1, SeedSizes { contacts: 300 });
        let emails = |s: &Store| {
            let k = s.types[0].prop_idx["email"];
            s.types[0].records.values().map(|r| r.get(k).unwrap_or("").to_string()).collect::<Vec<_>>()
        };
        assert_eq!(emails(&a), emails(&b));
        assert_ne!(emails(&a), emails(&c));
        assert!(a.types[0].records.len() + a.types[0].archived.len() == 300);
        assert!(!a.types[0].archived.is_empty());
        assert!(!a.types[0].merged_into.is_empty());
    }

    #[test]
    fn emails_are_unique() {
        let s = build(42, 1, SeedSizes { contacts: 3000 });
        let t = &s.types[0];
        assert_eq!(t.unique[&t.prop_idx["email"]].len(), t.records.len());
    }
}
