//! An HTTP/1.1 server (hyper) on one synack stream: `/` is a small page,
//! `/bytes/N` is N bytes of [`super::SeededBytes`].

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use super::SeededBytes;
use crate::TcpStream;

/// Largest `/bytes/N` served (64 GiB).
const MAX_BYTES: u64 = 64 << 30;

const INDEX: &str = "<!doctype html>\n<html><head><title>synack</title></head><body>\n\
<h1>Hello from synack</h1>\n\
<p>This page came over a TCP stack written in Rust, running on a TUN device.</p>\n\
<p><a href=\"/bytes/1048576\">/bytes/1048576</a>: 1 MiB of seeded random bytes.</p>\n\
</body></html>\n";

/// A response body: a fixed buffer or seeded bytes, streamed in chunks.
#[derive(Debug)]
enum HttpBody {
    Full(Option<Bytes>),
    Seeded(Box<SeededBytes>),
}

impl Body for HttpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = match self.get_mut() {
            Self::Full(b) => b.take(),
            Self::Seeded(s) => s.next().map(Bytes::from),
        };
        Poll::Ready(chunk.map(|c| Ok(Frame::data(c))))
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(b) => b.is_none(),
            Self::Seeded(s) => s.remaining() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Seeded(s) => SizeHint::with_exact(s.remaining()),
        }
    }
}

fn response(status: StatusCode, ctype: &'static str, body: HttpBody) -> Response<HttpBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

fn text(status: StatusCode, msg: &'static str) -> Response<HttpBody> {
    response(
        status,
        "text/plain; charset=utf-8",
        HttpBody::Full(Some(Bytes::from_static(msg.as_bytes()))),
    )
}

/// Routes one request.
fn route(req: &Request<Incoming>) -> Response<HttpBody> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    let path = req.uri().path();
    if path == "/" {
        return response(
            StatusCode::OK,
            "text/html; charset=utf-8",
            HttpBody::Full(Some(Bytes::from_static(INDEX.as_bytes()))),
        );
    }
    if let Some(n) = path.strip_prefix("/bytes/") {
        return match n.parse::<u64>() {
            Ok(n) if n <= MAX_BYTES => response(
                StatusCode::OK,
                "application/octet-stream",
                HttpBody::Seeded(Box::new(SeededBytes::new(n))),
            ),
            _ => text(StatusCode::BAD_REQUEST, "N must be a number up to 64 GiB\n"),
        };
    }
    text(StatusCode::NOT_FOUND, "not found\n")
}

/// Serves HTTP/1.1 (keep-alive included) on `stream` until the client is done.
///
/// # Errors
/// An I/O error of the connection, or malformed HTTP (as `InvalidData`).
///
/// # Cancel safety
/// Dropping the future closes the connection mid-response.
pub async fn http(stream: TcpStream) -> io::Result<()> {
    let service = hyper::service::service_fn(|req: Request<Incoming>| async move {
        Ok::<_, Infallible>(route(&req))
    });
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
        .map_err(|e| {
            let kind = if e.is_incomplete_message() || e.is_closed() {
                io::ErrorKind::UnexpectedEof
            } else if e.is_parse() {
                io::ErrorKind::InvalidData
            } else {
                io::ErrorKind::Other
            };
            io::Error::new(kind, e)
        })
}
