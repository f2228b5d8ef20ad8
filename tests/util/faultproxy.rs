//! A fault-injecting HTTP/1.1 proxy between an S3 client and an S3 server, for tests.
//!
//! It answers chosen `UploadPart` requests itself with `503 Slow Down` (the error S3 sends when it
//! throttles) and relays everything else unchanged to the upstream server, so the client's retry
//! and abort paths run against a real server. Requests are relayed byte for byte, Host header
//! included, so SigV4 signatures made for the proxy's address still verify upstream.
//!
//! Deliberately small and tokio-only: one task per client connection, keep-alive by reading each
//! request's framing (`Content-Length` or chunked), and a fresh upstream connection per request.

#![allow(dead_code)] // each test binary uses a different part of it

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which `UploadPart` requests get a 503 instead of reaching the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPolicy {
    /// Transient trouble: the first `first_n` UploadPart requests fail, later ones pass.
    FailParts { first_n: usize },
    /// Persistent trouble: every UploadPart request fails.
    FailAllParts,
}

/// One `PUT` (UploadPart or PutObject) the proxy received: the checksum header the client sent
/// and the SHA-256 of the body it actually carried, both base64 as S3 writes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutSeen {
    pub upload_part: bool,
    pub checksum_sha256: Option<String>,
    pub body_sha256: String,
}

/// A running proxy; stops accepting connections when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

struct State {
    upstream: String,
    policy: FaultPolicy,
    parts_seen: AtomicUsize,
    injected: AtomicUsize,
    relayed: AtomicUsize,
    puts: Mutex<Vec<PutSeen>>,
    /// `FAULTPROXY_TRACE` set: print each request head (without credentials) to stderr.
    trace: bool,
}

impl FaultProxy {
    /// Listen on `127.0.0.1:0` and relay to `upstream` (`host:port`).
    pub async fn start(upstream: impl Into<String>, policy: FaultPolicy) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.into(),
            policy,
            parts_seen: AtomicUsize::new(0),
            injected: AtomicUsize::new(0),
            relayed: AtomicUsize::new(0),
            puts: Mutex::new(Vec::new()),
            trace: std::env::var_os("FAULTPROXY_TRACE").is_some(),
        });
        let accept = tokio::spawn({
            let state = Arc::clone(&state);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let state = Arc::clone(&state);
                    tokio::spawn(async move {
                        // A connection ends with an error when either side hangs up mid-message;
                        // the client sees that as a failed request, which is all a test needs.
                        let _ = serve(client, &state).await;
                    });
                }
            }
        });
        Ok(FaultProxy { addr, state, accept })
    }

    /// The URL to give the S3 client as its endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests were answered with an injected 503.
    pub fn injected_faults(&self) -> usize {
        self.state.injected.load(Ordering::SeqCst)
    }

    /// Every `PUT` received so far, in order, retries included.
    pub fn puts(&self) -> Vec<PutSeen> {
        self.state.puts.lock().map(|p| p.clone()).unwrap_or_default()
    }

    /// How many requests were relayed to the upstream server.
    pub fn relayed_requests(&self) -> usize {
        self.state.relayed.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl State {
    /// Decide for one UploadPart request, counting it.
    fn inject_fault(&self) -> bool {
        let seen = self.parts_seen.fetch_add(1, Ordering::SeqCst);
        let fail = match self.policy {
            FaultPolicy::FailParts { first_n } => seen < first_n,
            FaultPolicy::FailAllParts => true,
        };
        if fail {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        fail
    }
}

/// An HTTP message head: the raw bytes (to relay unchanged) and what we need from them.
struct Head {
    raw: Vec<u8>,
    start_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn is_chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    fn content_length(&self) -> io::Result<Option<usize>> {
        self.header("content-length")
            .map(|v| v.trim().parse().map_err(|_| invalid(format!("bad Content-Length '{v}'"))))
            .transpose()
    }

    fn wants_close(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Serve one client connection: requests one after another until the client hangs up.
async fn serve(client: TcpStream, state: &State) -> io::Result<()> {
    let (read, mut write) = client.into_split();
    let mut client = BufReader::new(read);
    while let Some(request) = read_head(&mut client).await? {
        let mut method_and_target = request.start_line.split_whitespace();
        let method = method_and_target.next().unwrap_or_default().to_string();
        let target = method_and_target.next().unwrap_or_default().to_string();
        let body = read_body(&mut client, &request, BodyEnd::Empty).await?;
        if state.trace {
            trace(&request, body.len());
        }
        let upload_part = is_upload_part(&method, &target);
        if method == "PUT" {
            let seen = PutSeen {
                upload_part,
                checksum_sha256: request.header("x-amz-checksum-sha256").map(str::to_string),
                body_sha256: base64::engine::general_purpose::STANDARD
                    .encode(Sha256::digest(&body)),
            };
            if let Ok(mut puts) = state.puts.lock() {
                puts.push(seen);
            }
        }

        if upload_part && state.inject_fault() {
            write.write_all(&slow_down(state.injected.load(Ordering::SeqCst))).await?;
        } else {
            let (response, close) =
                relay(&state.upstream, &request, &body, method == "HEAD").await?;
            state.relayed.fetch_add(1, Ordering::SeqCst);
            write.write_all(&response).await?;
            if close {
                break;
            }
        }
        write.flush().await?;
        if request.wants_close() {
            break;
        }
    }
    write.shutdown().await
}

/// Print a request head to stderr, leaving out the signature.
fn trace(request: &Head, body_len: usize) {
    let mut out = format!("faultproxy: {} ({body_len} body bytes)\n", request.start_line);
    for (name, value) in &request.headers {
        let value = if name.eq_ignore_ascii_case("authorization") { "<redacted>" } else { value };
        out.push_str(&format!("  {name}: {value}\n"));
    }
    eprint!("{out}");
}

/// `PUT /bucket/key?partNumber=N&uploadId=...`: an UploadPart (UploadPartCopy never occurs here).
fn is_upload_part(method: &str, target: &str) -> bool {
    method == "PUT"
        && target
            .split_once('?')
            .is_some_and(|(_, query)| query.split('&').any(|p| p.starts_with("partNumber=")))
}

/// A 503 exactly as S3 sends it when throttling.
fn slow_down(n: usize) -> Vec<u8> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
         <Message>Please reduce your request rate. (injected by faultproxy)</Message>\
         <RequestId>faultproxy-{n}</RequestId><HostId>faultproxy</HostId></Error>"
    );
    let mut response = format!(
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         x-amz-request-id: faultproxy-{n}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}

/// Send one request upstream on a fresh connection; return the response bytes and whether the
/// client connection must close after it (a response framed by the end of the connection).
async fn relay(
    upstream: &str,
    request: &Head,
    body: &[u8],
    is_head: bool,
) -> io::Result<(Vec<u8>, bool)> {
    let server = TcpStream::connect(upstream).await?;
    let (read, mut write) = server.into_split();
    write.write_all(&request.raw).await?;
    write.write_all(body).await?;
    write.flush().await?;
    let mut server = BufReader::new(read);
    loop {
        let head = read_head(&mut server)
            .await?
            .ok_or_else(|| eof("upstream closed before responding"))?;
        let status: u16 =
            head.start_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        if (100..200).contains(&status) && status != 101 {
            continue; // interim response (100 Continue): the client did not ask for it
        }
        let no_body = is_head || status == 204 || status == 304;
        let framed = no_body || head.is_chunked() || head.content_length()?.is_some();
        let body =
            if no_body { Vec::new() } else { read_body(&mut server, &head, BodyEnd::Eof).await? };
        let mut response = head.raw.clone();
        response.extend_from_slice(&body);
        return Ok((response, !framed || head.wants_close()));
    }
}

/// What ends a body that has neither Content-Length nor chunked framing.
enum BodyEnd {
    /// Requests: no framing means no body.
    Empty,
    /// Responses: the body runs to the end of the connection.
    Eof,
}

/// Read a message head up to the blank line; `None` if the peer closed before sending any byte.
async fn read_head<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let start = raw.len();
        if reader.read_until(b'\n', &mut raw).await? == 0 {
            return if raw.is_empty() {
                Ok(None)
            } else {
                Err(eof("connection closed inside a message head"))
            };
        }
        let line =
            String::from_utf8_lossy(&raw[start..]).trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                raw.clear(); // stray blank line between messages (RFC 9112 allows ignoring it)
                continue;
            }
            break;
        }
        lines.push(line);
    }
    let mut lines = lines.into_iter();
    let start_line = lines.next().unwrap_or_default();
    let headers = lines
        .filter_map(|l| {
            l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Some(Head { raw, start_line, headers }))
}

/// Read the body that follows `head`, returning it exactly as sent (chunk framing included).
async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    head: &Head,
    unframed: BodyEnd,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.is_chunked() {
        loop {
            let start = body.len();
            if reader.read_until(b'\n', &mut body).await? == 0 {
                return Err(eof("connection closed inside a chunked body"));
            }
            let size_line = String::from_utf8_lossy(&body[start..]).to_string();
            let size_hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| invalid(format!("bad chunk size line '{}'", size_line.trim_end())))?;
            if size == 0 {
                // Trailer fields, then the blank line that ends the message.
                loop {
                    let start = body.len();
                    if reader.read_until(b'\n', &mut body).await? == 0 {
                        return Err(eof("connection closed inside chunked trailers"));
                    }
                    if body[start..].iter().all(|b| *b == b'\r' || *b == b'\n') {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + size + 2, 0); // the chunk and its CRLF
            reader.read_exact(&mut body[start..]).await?;
        }
    } else if let Some(length) = head.content_length()? {
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if let BodyEnd::Eof = unframed {
        reader.read_to_end(&mut body).await?;
    }
    Ok(body)
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_string())
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}
