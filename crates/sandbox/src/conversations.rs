//! Conversations inbox: threads and messages (read), replies (write).

use crate::auth::Caller;
use crate::crm::Params;
use crate::error::{ApiError, ApiResult, Json};
use crate::model::{Message, Thread};
use crate::state::AppState;
use crate::util::iso_ms;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use std::sync::Arc;

fn render_thread(t: &Thread) -> Value {
    let last = t.messages.last().map(|m| m.created).unwrap_or(t.created);
    let last_in = t.messages.iter().rev().find(|m| m.direction == "INCOMING").map(|m| m.created);
    let last_out = t.messages.iter().rev().find(|m| m.direction == "OUTGOING").map(|m| m.created);
    let mut v = json!({
        "id": t.id.to_string(),
        "createdAt": iso_ms(t.created),
        "status": t.status,
        "originalChannelId": t.channel_id.to_string(),
        "originalChannelAccountId": t.channel_account_id.to_string(),
        "latestMessageTimestamp": iso_ms(last),
        "spam": false,
        "inboxId": t.inbox_id.to_string(),
        "associatedContactId": t.contact_id.to_string(),
        "archived": t.archived,
    });
    if let Some(x) = last_in {
        v["latestMessageReceivedTimestamp"] = json!(iso_ms(x));
    }
    if let Some(x) = last_out {
        v["latestMessageSentTimestamp"] = json!(iso_ms(x));
    }
    if let Some(c) = t.closed {
        v["closedAt"] = json!(iso_ms(c));
    }
    if let Some(a) = t.assigned_to {
        v["assignedTo"] = json!(format!("A-{a}"));
    }
    v
}

fn render_message(t: &Thread, m: &Message) -> Value {
    let mut v = json!({
        "id": m.id,
        "type": "MESSAGE",
        "conversationsThreadId": t.id.to_string(),
        "createdAt": iso_ms(m.created),
        "createdBy": m.sender_actor,
        "client": { "clientType": if m.direction == "OUTGOING" { "HUBSPOT" } else { "SYSTEM" } },
        "senders": [{ "actorId": m.sender_actor, "name": m.sender_name, "senderField": "FROM", "deliveryIdentifier": { "type": "HS_EMAIL_ADDRESS", "value": m.sender_email } }],
        "recipients": [{ "recipientField": "TO", "deliveryIdentifier": { "type": "HS_EMAIL_ADDRESS", "value": m.recipient_email } }],
        "archived": false,
        "text": m.text,
        "richText": format!("<div>{}</div>", crate::util::html_escape(&m.text)),
        "attachments": [],
        "truncationStatus": "NOT_TRUNCATED",
        "status": { "statusType": "SENT" },
        "direction": m.direction,
        "channelId": t.channel_id.to_string(),
        "channelAccountId": t.channel_account_id.to_string(),
    });
    if let Some(s) = &m.subject {
        v["subject"] = json!(s);
    }
    v
}

fn thread_id(s: &str) -> ApiResult<u64> {
    s.parse().map_err(|_| ApiError::not_found(format!("Thread {s} not found")))
}

pub async fn threads(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, RawQuery(q): RawQuery) -> ApiResult<Json<Value>> {
    caller.require(&["conversations.read"])?;
    let p = Params::parse(q);
    let limit: usize = p.one("limit").map(|l| l.parse().map_err(|_| ApiError::validation("limit must be an integer"))).transpose()?.unwrap_or(20);
    if limit == 0 || limit > 500 {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    let after: u64 = p.one("after").filter(|a| !a.is_empty()).map(|a| a.parse().map_err(|_| ApiError::validation("invalid after"))).transpose()?.unwrap_or(0);
    let contact: Option<u64> = p.one("associatedContactId").and_then(|c| c.parse().ok());
    let status = p.one("status").map(str::to_uppercase);
    let store = st.read()?;
    let mut results = Vec::new();
    let mut next = None;
    for (id, t) in store.threads.range(after..) {
        if contact.is_some_and(|c| c != t.contact_id) || status.as_deref().is_some_and(|s| s != t.status) || t.archived != p.flag("archived") {
            continue;
        }
        if results.len() == limit {
            next = Some(*id);
            break;
        }
        results.push(render_thread(t));
    }
    let mut body = json!({ "results": results });
    if let Some(n) = next {
        body["paging"] = json!({ "next": { "after": n.to_string() } });
    }
    Ok(Json(body))
}

pub async fn thread(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(thread_id_s): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&["conversations.read"])?;
    let id = thread_id(&thread_id_s)?;
    let store = st.read()?;
    store.threads.get(&id).map(|t| Json(render_thread(t))).ok_or_else(|| ApiError::not_found(format!("Thread {id} not found")))
}

pub async fn messages(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(thread_id_s): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&["conversations.read"])?;
    let id = thread_id(&thread_id_s)?;
    let store = st.read()?;
    let t = store.threads.get(&id).ok_or_else(|| ApiError::not_found(format!("Thread {id} not found")))?;
    Ok(Json(json!({ "results": t.messages.iter().map(|m| render_message(t, m)).collect::<Vec<_>>() })))
}

pub async fn message(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path((thread_id_s, message_id)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    caller.require(&["conversations.read"])?;
    let id = thread_id(&thread_id_s)?;
    let store = st.read()?;
    let t = store.threads.get(&id).ok_or_else(|| ApiError::not_found(format!("Thread {id} not found")))?;
    t.messages.iter().find(|m| m.id == message_id).map(|m| Json(render_message(t, m))).ok_or_else(|| ApiError::not_found(format!("Message {message_id} not found")))
}

pub async fn reply(State(st): State<Arc<AppState>>, Extension(caller): Extension<Caller>, Path(thread_id_s): Path<String>, Json(body): Json<Value>) -> ApiResult<Response> {
    caller.require(&["conversations.write"])?;
    let id = thread_id(&thread_id_s)?;
    let text = body.get("text").and_then(Value::as_str).filter(|t| !t.trim().is_empty()).ok_or_else(|| ApiError::validation("text is required"))?.to_string();
    let sender = body.get("senderActorId").and_then(Value::as_str).filter(|a| a.starts_with("A-")).ok_or_else(|| ApiError::validation("senderActorId must be an agent actor id like A-12345"))?.to_string();
    let now = st.clock.now_ms();
    let mut store = st.write()?;
    let owner = store.owners.iter().find(|o| format!("A-{}", o.user_id) == sender).cloned();
    let t = store.threads.get_mut(&id).ok_or_else(|| ApiError::not_found(format!("Thread {id} not found")))?;
    let to = t.messages.iter().find(|m| m.direction == "INCOMING").map(|m| m.sender_email.clone()).unwrap_or_default();
    let m = Message {
        id: crate::util::random_hex(&mut rand::rng(), 16),
        created: now,
        text,
        direction: "OUTGOING",
        sender_actor: sender,
        sender_name: owner.as_ref().map(|o| format!("{} {}", o.first, o.last)).unwrap_or_else(|| "Agent".into()),
        sender_email: owner.map(|o| o.email).unwrap_or_else(|| "support@northwind-demo.com".into()),
        recipient_email: to,
        subject: body.get("subject").and_then(Value::as_str).map(str::to_string),
    };
    t.messages.push(m.clone());
    t.status = "OPEN";
    let v = render_message(t, &m);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}
