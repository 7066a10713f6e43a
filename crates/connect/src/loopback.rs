//! The loopback listener that receives HubSpot's OAuth redirect.
//!
//! - Bound to `127.0.0.1` (and `[::1]` when available) on a fixed port, because HubSpot matches
//!   the registered `http://localhost:PORT/callback` exactly. Never bound to other interfaces.
//! - The `Host` header must name the loopback host and this port (defeats DNS rebinding).
//! - Every TCP connection is served on its own task, so a browser's idle pre-connect cannot block
//!   the real callback; each one is cut off after [`LoopbackLimits::read_timeout`] or when its
//!   request head grows past [`LoopbackLimits::max_request_bytes`]. Only `GET` without a body.
//! - Each sign-in registers its `state`; a callback consumes it (single use). Callbacks with a
//!   missing or unknown state get an error page and change nothing.
//! - The listener closes as soon as no sign-in is waiting on its port (after the first valid
//!   callback of the last flow, a cancel, or a timeout).
//!
//! tiny_http 0.12 reads request heads without a size cap or a read timeout, so it cannot cut off
//! oversized or slow requests; this listener is a small, bounded HTTP/1.1 reader on tokio instead.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spoke_hubspot::Secret;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Semaphore};

use crate::Error;

/// What HubSpot sent back to the redirect URL.
#[derive(Debug)]
pub enum CallbackOutcome {
    Code(Secret),
    /// `error=access_denied`: the user clicked cancel on the consent page.
    Denied {
        description: Option<String>,
    },
    /// Any other `error=…`, or a callback without a code.
    Failed {
        error: String,
        description: Option<String>,
    },
}

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackLimits {
    pub max_request_bytes: usize,
    pub read_timeout: Duration,
    /// Connections served at once (a browser opens a few); more are closed immediately.
    pub max_connections: usize,
}

impl Default for LoopbackLimits {
    fn default() -> Self {
        LoopbackLimits {
            max_request_bytes: 16 * 1024,
            read_timeout: Duration::from_secs(10),
            max_connections: 32,
        }
    }
}

type Flows = HashMap<String, oneshot::Sender<CallbackOutcome>>;

struct PortListener {
    flows: Mutex<Flows>,
    shutdown: watch::Sender<bool>,
}

type Registry = Arc<Mutex<HashMap<u16, Arc<PortListener>>>>;

/// All loopback listeners of the process, one per port, shared by concurrent sign-ins.
#[derive(Clone, Default)]
pub struct Loopback {
    ports: Registry,
    limits: LoopbackLimits,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Loopback {
    pub fn new(limits: LoopbackLimits) -> Loopback {
        Loopback {
            ports: Registry::default(),
            limits,
        }
    }

    /// Waits for the callback carrying `state` on `port`, starting the listener if needed.
    pub fn register(
        &self,
        port: u16,
        state: &str,
    ) -> Result<oneshot::Receiver<CallbackOutcome>, Error> {
        let (tx, rx) = oneshot::channel();
        let mut ports = lock(&self.ports);
        let listener = match ports.get(&port) {
            Some(existing) => existing.clone(),
            None => {
                let started = self.start(port)?;
                ports.insert(port, started.clone());
                started
            }
        };
        lock(&listener.flows).insert(state.to_owned(), tx);
        Ok(rx)
    }

    /// Stops waiting for `state` (cancel, timeout); closes the listener if nothing else waits.
    pub fn unregister(&self, port: u16, state: &str) {
        let mut ports = lock(&self.ports);
        if let Some(listener) = ports.get(&port).cloned() {
            let mut flows = lock(&listener.flows);
            flows.remove(state);
            if flows.is_empty() {
                let _ = listener.shutdown.send(true);
                ports.remove(&port);
            }
        }
    }

    /// Whether a listener is open on `port`.
    pub fn is_listening(&self, port: u16) -> bool {
        lock(&self.ports).contains_key(&port)
    }

    fn start(&self, port: u16) -> Result<Arc<PortListener>, Error> {
        let v4 = bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), port)?;
        // Browsers may resolve `localhost` to ::1 first; serve it too when the host has IPv6.
        let v6 = bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), port).ok();
        let (shutdown, _) = watch::channel(false);
        let in_flight = Arc::new(Semaphore::new(self.limits.max_connections));
        let listener = Arc::new(PortListener {
            flows: Mutex::new(HashMap::new()),
            shutdown,
        });
        for socket in std::iter::once(v4).chain(v6) {
            let ctx = Ctx {
                port,
                listener: listener.clone(),
                ports: self.ports.clone(),
                limits: self.limits,
                in_flight: in_flight.clone(),
            };
            let mut stop = listener.shutdown.subscribe();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        accepted = socket.accept() => match accepted {
                            Ok((stream, peer)) if peer.ip().is_loopback() => {
                                // Bounded work: past the cap, new connections are closed at once.
                                if let Ok(slot) = ctx.in_flight.clone().try_acquire_owned() {
                                    let ctx = ctx.clone();
                                    tokio::spawn(async move {
                                        serve(stream, ctx).await;
                                        drop(slot);
                                    });
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(port, error = %e, "loopback accept failed");
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        },
                    }
                }
            });
        }
        tracing::debug!(port, "loopback listener started");
        Ok(listener)
    }
}

fn bind(addr: SocketAddr, port: u16) -> Result<TcpListener, Error> {
    let std_listener = std::net::TcpListener::bind(addr).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => Error::PortInUse { port },
        _ => Error::Listener(format!("cannot listen on {addr}: {e}")),
    })?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| Error::Listener(e.to_string()))?;
    TcpListener::from_std(std_listener).map_err(|e| Error::Listener(e.to_string()))
}

#[derive(Clone)]
struct Ctx {
    port: u16,
    listener: Arc<PortListener>,
    ports: Registry,
    limits: LoopbackLimits,
    in_flight: Arc<Semaphore>,
}

impl Ctx {
    /// Takes the flow waiting for `state`, closing the listener if it was the last one.
    fn take(&self, state: &str) -> Option<oneshot::Sender<CallbackOutcome>> {
        let mut ports = lock(&self.ports);
        let mut flows = lock(&self.listener.flows);
        let sender = flows.remove(state)?;
        if flows.is_empty() {
            let _ = self.listener.shutdown.send(true);
            if ports
                .get(&self.port)
                .is_some_and(|l| Arc::ptr_eq(l, &self.listener))
            {
                ports.remove(&self.port);
            }
        }
        Some(sender)
    }
}

enum HeadError {
    TooLarge,
    Io,
}

async fn read_head(stream: &mut TcpStream, max: usize) -> Result<Vec<u8>, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Io)?;
        if n == 0 {
            return Err(HeadError::Io);
        }
        let scan_from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf[scan_from..].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.truncate(scan_from + pos);
            return Ok(buf);
        }
        if buf.len() > max {
            return Err(HeadError::TooLarge);
        }
    }
}

struct Page {
    status: u16,
    reason: &'static str,
    title: &'static str,
    message: String,
}

async fn serve(mut stream: TcpStream, ctx: Ctx) {
    let limits = ctx.limits;
    let page = match tokio::time::timeout(
        limits.read_timeout,
        read_head(&mut stream, limits.max_request_bytes),
    )
    .await
    {
        Err(_) => Some(error_page(
            408,
            "Request Timeout",
            "The request took too long.",
        )),
        Ok(Err(HeadError::TooLarge)) => Some(error_page(
            431,
            "Request Header Fields Too Large",
            "The request was too large.",
        )),
        Ok(Err(HeadError::Io)) => None,
        Ok(Ok(head)) => Some(route(&head, &ctx)),
    };
    if let Some(page) = page {
        let _ = tokio::time::timeout(limits.read_timeout, write_page(&mut stream, &page)).await;
    }
    let _ = stream.shutdown().await;
}

fn error_page(status: u16, reason: &'static str, message: &str) -> Page {
    Page {
        status,
        reason,
        title: "Spoke could not use this request",
        message: message.to_owned(),
    }
}

fn route(head: &[u8], ctx: &Ctx) -> Page {
    let Ok(text) = std::str::from_utf8(head) else {
        return error_page(400, "Bad Request", "The request was not readable.");
    };
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if !version.starts_with("HTTP/1.") || parts.next().is_some() {
        return error_page(400, "Bad Request", "The request was not valid HTTP.");
    }
    let mut host = None;
    let mut has_body = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return error_page(400, "Bad Request", "The request was not valid HTTP.");
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return error_page(400, "Bad Request", "The request named more than one host.");
            }
            host = Some(value.to_ascii_lowercase());
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("content-length") && value != "0")
        {
            has_body = true;
        }
    }
    let allowed = [
        format!("localhost:{}", ctx.port),
        format!("127.0.0.1:{}", ctx.port),
        format!("[::1]:{}", ctx.port),
    ];
    if !host
        .as_deref()
        .is_some_and(|h| allowed.iter().any(|a| a == h))
    {
        return error_page(
            421,
            "Misdirected Request",
            "This address only answers requests for localhost.",
        );
    }
    if method != "GET" || has_body {
        return error_page(
            405,
            "Method Not Allowed",
            "Only the HubSpot sign-in redirect is served here.",
        );
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        return error_page(404, "Not Found", "Nothing here. Return to Spoke.");
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let Some(state) = params.get("state").filter(|s| !s.is_empty()) else {
        return error_page(400, "Bad Request", "The sign-in answer has no state, so Spoke cannot match it to a sign-in. Start again from Spoke.");
    };
    let Some(sender) = ctx.take(state) else {
        return error_page(
            400,
            "Bad Request",
            "This sign-in link is unknown or was already used. If you are connecting a portal, start again from Spoke.",
        );
    };
    let description = params.get("error_description").cloned();
    let (outcome, page) = match (params.get("error"), params.get("code").filter(|c| !c.is_empty())) {
        (Some(error), _) if error == "access_denied" => (
            CallbackOutcome::Denied { description },
            Page { status: 200, reason: "OK", title: "Access was not granted", message: "You declined access on HubSpot's consent page. Nothing was connected; you can close this tab and try again from Spoke.".to_owned() },
        ),
        (Some(error), _) => (
            CallbackOutcome::Failed { error: error.clone(), description: description.clone() },
            Page {
                status: 200,
                reason: "OK",
                title: "HubSpot reported a problem",
                message: format!(
                    "HubSpot answered “{error}”{}. Return to Spoke for what to do next.",
                    description.map(|d| format!(": {d}")).unwrap_or_default()
                ),
            },
        ),
        (None, Some(code)) => (
            CallbackOutcome::Code(Secret::new(code.clone())),
            Page { status: 200, reason: "OK", title: "Signed in to HubSpot", message: "Spoke is finishing the connection. You can close this tab and return to Spoke.".to_owned() },
        ),
        (None, None) => (
            CallbackOutcome::Failed { error: "invalid_request".to_owned(), description: Some("the redirect carried no code".to_owned()) },
            error_page(400, "Bad Request", "The sign-in answer carried no code. Start again from Spoke."),
        ),
    };
    // The flow may have been cancelled a moment ago; the page is still accurate for the browser.
    let _ = sender.send(outcome);
    page
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

async fn write_page(stream: &mut TcpStream, page: &Page) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · Spoke</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font:16px/1.5 system-ui,sans-serif;background:#f6f7f9;color:#1d2330;display:grid;place-items:center;min-height:90vh;margin:0}}\
         main{{background:#fff;border-radius:12px;padding:2rem 2.5rem;max-width:32rem;box-shadow:0 2px 12px rgba(0,0,0,.08)}}\
         h1{{font-size:1.3rem;margin:0 0 .5rem}}</style></head>\
         <body><main><h1>{title}</h1><p>{message}</p></main></body></html>",
        title = escape(page.title),
        message = escape(&page.message),
    );
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\r\n",
        page.status,
        page.reason,
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn raw(port: u16, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(port: u16, target: &str) -> Vec<u8> {
        format!("GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").into_bytes()
    }

    fn quick() -> Loopback {
        Loopback::new(LoopbackLimits {
            max_request_bytes: 16 * 1024,
            read_timeout: Duration::from_millis(300),
            max_connections: 4,
        })
    }

    #[tokio::test]
    async fn a_flood_of_idle_connections_is_capped_and_the_callback_still_gets_through() {
        let lb = quick();
        let port = free_port();
        let rx = lb.register(port, "s").unwrap();
        let mut idle = Vec::new();
        for _ in 0..20 {
            idle.push(TcpStream::connect(("127.0.0.1", port)).await.unwrap());
        }
        // Connections past the cap are closed at once (EOF without an answer).
        let mut closed = 0;
        for stream in &mut idle {
            let mut byte = [0u8; 1];
            if let Ok(Ok(0)) =
                tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte)).await
            {
                closed += 1;
            }
        }
        assert!(closed >= 16, "only 4 are served at once, {closed} closed");
        // The held ones time out; then the real callback is served.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let page = raw(port, &get(port, "/callback?code=c&state=s")).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(matches!(rx.await.unwrap(), CallbackOutcome::Code(_)));
    }

    #[tokio::test]
    async fn valid_callback_delivers_the_code_once_and_closes_the_listener() {
        let lb = quick();
        let port = free_port();
        let rx = lb.register(port, "s1").unwrap();
        let page = raw(port, &get(port, "/callback?code=abc&state=s1")).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("Signed in to HubSpot"));
        assert!(page.contains("Referrer-Policy: no-referrer"));
        match rx.await.unwrap() {
            CallbackOutcome::Code(code) => assert_eq!(code.expose(), "abc"),
            other => panic!("{other:?}"),
        }
        assert!(!lb.is_listening(port));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(("127.0.0.1", port)).await.is_err(),
            "second callback finds the port closed"
        );
    }

    #[tokio::test]
    async fn wrong_missing_and_replayed_state_are_refused_without_ending_the_flow() {
        let lb = quick();
        let port = free_port();
        let mut rx = lb.register(port, "good").unwrap();
        let _other = lb.register(port, "other-flow").unwrap();
        let page = raw(port, &get(port, "/callback?code=abc")).await;
        assert!(
            page.starts_with("HTTP/1.1 400") && page.contains("no state"),
            "{page}"
        );
        let page = raw(port, &get(port, "/callback?code=abc&state=evil")).await;
        assert!(
            page.starts_with("HTTP/1.1 400") && page.contains("unknown or was already used"),
            "{page}"
        );
        assert!(rx.try_recv().is_err(), "the real flow is still waiting");
        let page = raw(port, &get(port, "/callback?code=abc&state=good")).await;
        assert!(page.starts_with("HTTP/1.1 200"));
        assert!(matches!(rx.await.unwrap(), CallbackOutcome::Code(_)));
        let replay = raw(port, &get(port, "/callback?code=abc&state=good")).await;
        assert!(
            replay.starts_with("HTTP/1.1 400") && replay.contains("already used"),
            "{replay}"
        );
        assert!(lb.is_listening(port), "another flow still waits");
    }

    #[tokio::test]
    async fn denied_consent_and_other_errors_are_reported_as_such() {
        let lb = quick();
        let port = free_port();
        let rx = lb.register(port, "s").unwrap();
        let page = raw(
            port,
            &get(
                port,
                "/callback?error=access_denied&error_description=User+said+no&state=s",
            ),
        )
        .await;
        assert!(page.contains("Access was not granted"), "{page}");
        assert!(
            matches!(rx.await.unwrap(), CallbackOutcome::Denied { description: Some(d) } if d == "User said no")
        );
        let rx = lb.register(port, "t").unwrap();
        let page = raw(
            port,
            &get(
                port,
                "/callback?error=invalid_scope&error_description=%3Cscript%3E&state=t",
            ),
        )
        .await;
        assert!(
            page.contains("invalid_scope")
                && page.contains("&lt;script&gt;")
                && !page.contains("<script>"),
            "{page}"
        );
        assert!(
            matches!(rx.await.unwrap(), CallbackOutcome::Failed { error, .. } if error == "invalid_scope")
        );
    }

    #[tokio::test]
    async fn foreign_host_posts_and_other_paths_are_refused() {
        let lb = quick();
        let port = free_port();
        let mut rx = lb.register(port, "s").unwrap();
        let page = raw(
            port,
            format!("GET /callback?code=a&state=s HTTP/1.1\r\nHost: evil.example:{port}\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 421"), "{page}");
        let page = raw(port, b"GET /callback?code=a&state=s HTTP/1.1\r\n\r\n").await;
        assert!(page.starts_with("HTTP/1.1 421"), "no Host header: {page}");
        let page = raw(port, format!("POST /callback?code=a&state=s HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 3\r\n\r\nabc").as_bytes()).await;
        assert!(page.starts_with("HTTP/1.1 405"), "{page}");
        let page = raw(port, &get(port, "/favicon.ico")).await;
        assert!(page.starts_with("HTTP/1.1 404"), "{page}");
        assert!(rx.try_recv().is_err(), "nothing reached the flow");
        let page = raw(
            port,
            format!("GET /callback?code=a&state=s HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")
                .as_bytes(),
        )
        .await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    }

    #[tokio::test]
    async fn one_megabyte_request_is_cut_off() {
        let lb = quick();
        let port = free_port();
        let mut rx = lb.register(port, "s").unwrap();
        let huge = format!(
            "GET /callback?code=a&state=s&pad={} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n",
            "x".repeat(1024 * 1024)
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        // The server stops reading after 16 KiB; the write may fail with a reset, which is the point.
        let _ = stream.write_all(huge.as_bytes()).await;
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 431"),
            "{text}"
        );
        assert!(rx.try_recv().is_err());
        assert!(lb.is_listening(port));
    }

    #[tokio::test]
    async fn slow_client_is_cut_off_and_does_not_block_the_real_callback() {
        let lb = quick();
        let port = free_port();
        let rx = lb.register(port, "s").unwrap();
        // A pre-connect / slowloris that sends half a request and then nothing.
        let mut slow = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        slow.write_all(b"GET /callback?code=a&st").await.unwrap();
        let page = raw(port, &get(port, "/callback?code=real&state=s")).await;
        assert!(
            page.starts_with("HTTP/1.1 200"),
            "served while the slow client hangs"
        );
        assert!(matches!(rx.await.unwrap(), CallbackOutcome::Code(c) if c.expose() == "real"));
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut out))
            .await
            .expect("cut off");
        assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 408"));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn busy_port_is_a_clear_error_and_unregister_closes() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let lb = quick();
        assert!(matches!(lb.register(port, "s"), Err(Error::PortInUse { port: p }) if p == port));
        drop(taken);
        let _rx = lb.register(port, "s").unwrap();
        assert!(lb.is_listening(port));
        lb.unregister(port, "s");
        assert!(!lb.is_listening(port));
    }
}
