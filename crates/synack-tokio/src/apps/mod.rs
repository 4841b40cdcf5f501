//! Small servers on synack streams: echo (RFC 862), discard (RFC 863), chargen
//! (RFC 864) and an HTTP/1.1 server (hyper) with a page and `/bytes/N`.
//!
//! `synack serve --app NAME` and the interop tests run these.

mod http;

use std::fmt;
use std::io;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{TcpListener, TcpStream};

pub use http::http;

/// Bytes per read and write of the apps.
const CHUNK: usize = 64 * 1024;

/// Seed of the bytes `/bytes/N` serves ([`SeededBytes`]).
pub const BYTES_SEED: u64 = 0x5359_4e41_434b; // "SYNACK"

/// Which app [`serve`] runs on each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum App {
    /// Sends back what it receives; shuts down writing at end of stream.
    Echo,
    /// Reads and drops everything.
    Discard,
    /// Sends the RFC 864 character pattern until the peer goes away.
    Chargen,
    /// HTTP/1.1: `/` is a small page, `/bytes/N` is N seeded random bytes.
    Http,
}

impl FromStr for App {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "echo" => Ok(Self::Echo),
            "discard" => Ok(Self::Discard),
            "chargen" => Ok(Self::Chargen),
            "http" => Ok(Self::Http),
            _ => Err(format!("unknown app {s:?} (echo, discard, chargen, http)")),
        }
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Echo => "echo",
            Self::Discard => "discard",
            Self::Chargen => "chargen",
            Self::Http => "http",
        })
    }
}

/// Accepts connections forever, running `app` on each in its own task.
///
/// # Errors
/// When accepting fails (the interface shut down).
///
/// # Cancel safety
/// Cancel safe: dropping the future stops accepting; running connections go on.
pub async fn serve(listener: TcpListener, app: App) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(run(stream, app));
    }
}

/// Runs `app` on one connection until it ends.
///
/// # Errors
/// The connection's error (reset, timeout...).
///
/// # Cancel safety
/// Dropping the future drops the stream, which closes it.
pub async fn run(stream: TcpStream, app: App) -> io::Result<u64> {
    match app {
        App::Echo => echo(stream).await,
        App::Discard => discard(stream).await,
        App::Chargen => chargen(stream).await,
        App::Http => http(stream).await.map(|()| 0),
    }
}

/// Echo (RFC 862): sends back everything; at end of stream shuts down writing.
/// Returns the bytes echoed.
///
/// # Errors
/// The connection's error.
///
/// # Cancel safety
/// Dropping the future closes the stream; data in flight is lost.
pub async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            stream.shutdown().await?;
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Discard (RFC 863): reads to end of stream. Returns the bytes read.
///
/// # Errors
/// The connection's error.
///
/// # Cancel safety
/// Dropping the future closes the stream.
pub async fn discard(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match stream.read(&mut buf).await? {
            0 => {
                stream.shutdown().await?;
                return Ok(total);
            }
            n => total += n as u64,
        }
    }
}

/// Chargen (RFC 864): lines of 72 printable characters, each starting one character
/// later, until the peer closes or resets. Returns the bytes sent.
///
/// # Errors
/// Never for the peer going away (that ends the app); other I/O errors.
///
/// # Cancel safety
/// Dropping the future closes the stream.
pub async fn chargen(mut stream: TcpStream) -> io::Result<u64> {
    // RFC 864: the 95 printable ASCII characters, 72 per line, rotating.
    let pattern: Vec<u8> = (0..95u8)
        .flat_map(|start| {
            (0..72u8)
                .map(move |i| b' ' + (start + i) % 95)
                .chain(*b"\r\n")
        })
        .collect();
    let mut total = 0u64;
    loop {
        match stream.write(&pattern).await {
            Ok(n) => total += n as u64,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                return Ok(total)
            }
            Err(e) => return Err(e),
        }
    }
}

/// The seeded pseudo-random bytes `/bytes/N` serves, in chunks: the first `k` bytes
/// are the same for every `N >= k`, so a client can check what it got.
#[derive(Clone, Debug)]
pub struct SeededBytes {
    rng: ChaCha8Rng,
    remaining: u64,
}

impl SeededBytes {
    /// The first `len` bytes of the stream seeded with [`BYTES_SEED`].
    pub fn new(len: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(BYTES_SEED),
            remaining: len,
        }
    }

    /// Bytes not yet produced.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for SeededBytes {
    type Item = Vec<u8>;

    /// The next chunk (64 KiB, the last one shorter).
    fn next(&mut self) -> Option<Vec<u8>> {
        if self.remaining == 0 {
            return None;
        }
        let n = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut chunk = vec![0u8; n];
        // Every chunk but the last is a multiple of 4 bytes, so the stream does not
        // depend on the chunking (ChaCha hands out whole 32-bit words).
        self.rng.fill_bytes(&mut chunk);
        self.remaining -= n as u64;
        Some(chunk)
    }
}
