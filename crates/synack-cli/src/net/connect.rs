//! `synack connect`: a TUN device, one connection from synack to `HOST:PORT`,
//! a transfer each way, and what it measured: goodput and the SHA-256 of the
//! bytes sent and received.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use synack_tokio::apps::SeededBytes;
use synack_tokio::TcpStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::args::ConnectArgs;
use super::{build, hex};
use crate::units::{format_bytes, format_rate};

/// Transfers at least this long get a progress bar (on a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// What to send.
enum Source {
    /// Nothing: half-close at once.
    Nothing,
    /// `n` seeded bytes (the same stream `/bytes/N` serves).
    Seeded(u64),
    /// A file's contents.
    File(tokio::fs::File, u64),
}

/// One direction's result.
struct Tally {
    bytes: u64,
    elapsed: Duration,
    sha256: String,
}

impl Tally {
    fn line(&self, what: &str) -> String {
        let secs = self.elapsed.as_secs_f64();
        let bps = if secs > 0.0 {
            (self.bytes as f64 * 8.0 / secs) as u64
        } else {
            0
        };
        format!(
            "{what} {} bytes ({}) in {:.3} s: {} sha256 {}",
            self.bytes,
            format_bytes(self.bytes),
            secs,
            format_rate(bps),
            self.sha256
        )
    }
}

/// Runs `synack connect`; returns the exit status.
pub(crate) fn run(
    args: &ConnectArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    stderr_is_terminal: bool,
) -> i32 {
    let opts = match args.iface_options() {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "synack connect: {e}");
            return 2;
        }
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "synack connect: {e}");
            return 1;
        }
    };
    let r = rt.block_on(async {
        let iface = build(&opts).await?;
        let r = transfer(&iface, args, out, stderr_is_terminal).await;
        iface.shutdown().await;
        r
    });
    match r {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "synack connect: {e}");
            1
        }
    }
}

async fn source(args: &ConnectArgs) -> Result<Source, String> {
    if let Some(f) = &args.send_file {
        let file = tokio::fs::File::open(f)
            .await
            .map_err(|e| format!("--send-file {}: {e}", f.display()))?;
        let len = file
            .metadata()
            .await
            .map_err(|e| format!("--send-file {}: {e}", f.display()))?
            .len();
        return Ok(Source::File(file, len));
    }
    Ok(args.send.map_or(Source::Nothing, Source::Seeded))
}

fn progress(len: u64, what: &str, terminal: bool) -> Option<ProgressBar> {
    if !terminal || len < PROGRESS_MIN_BYTES {
        return None;
    }
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(s) = style {
        bar.set_style(s);
    }
    bar.set_message(what.to_owned());
    Some(bar)
}

async fn transfer(
    iface: &synack_tokio::Interface,
    args: &ConnectArgs,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<(), String> {
    let src = source(args).await?;
    let target = args.target;
    let stream = tokio::time::timeout(args.timeout, TcpStream::connect(iface, target))
        .await
        .map_err(|_| format!("connecting to {target}: no answer in {:?}", args.timeout))?
        .map_err(|e| format!("connecting to {target}: {e}"))?;
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let _ = writeln!(out, "connected {local} -> {target} (tun {})", iface.name());
    let _ = out.flush();
    let start = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let send_len = match &src {
        Source::Nothing => 0,
        Source::Seeded(n) => *n,
        Source::File(_, n) => *n,
    };
    let send_bar = progress(send_len, "send", terminal);
    let sending = async move {
        let mut h = Sha256::new();
        let mut sent = 0u64;
        match src {
            Source::Nothing => {}
            Source::Seeded(n) => {
                for chunk in SeededBytes::new(n) {
                    wr.write_all(&chunk).await?;
                    h.update(&chunk);
                    sent += chunk.len() as u64;
                    if let Some(b) = &send_bar {
                        b.set_position(sent);
                    }
                }
            }
            Source::File(mut f, _) => {
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let n = f.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    wr.write_all(&buf[..n]).await?;
                    h.update(&buf[..n]);
                    sent += n as u64;
                    if let Some(b) = &send_bar {
                        b.set_position(sent);
                    }
                }
            }
        }
        // FIN after the last byte; the peer's FIN (read side) ends the transfer.
        wr.shutdown().await?;
        if let Some(b) = send_bar {
            b.finish_and_clear();
        }
        Ok::<_, std::io::Error>((sent, h.finalize(), start.elapsed(), wr))
    };
    let recv_bar = progress(args.expect.unwrap_or(0), "recv", terminal);
    let receiving = async move {
        let mut h = Sha256::new();
        let mut got = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = rd.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            got += n as u64;
            if let Some(b) = &recv_bar {
                b.set_position(got);
            }
        }
        if let Some(b) = recv_bar {
            b.finish_and_clear();
        }
        Ok::<_, std::io::Error>((got, h.finalize(), start.elapsed(), rd))
    };
    let limit = args.transfer_timeout;
    let both = async { tokio::try_join!(sending, receiving) };
    let ((sent, sent_sum, sent_t, wr), (got, got_sum, got_t, rd)) =
        tokio::time::timeout(limit, both)
            .await
            .map_err(|_| format!("transfer with {target} did not finish in {limit:?}"))?
            .map_err(|e| format!("transfer with {target}: {e}"))?;
    let info = rd.reunite(wr).ok().and_then(|s| s.info());
    // Goodput of what we sent: until the peer closed, which it does once it has
    // read everything (a discard or sink server), i.e. the whole transfer.
    if sent > 0 || args.send.is_some() || args.send_file.is_some() {
        let t = Tally {
            bytes: sent,
            elapsed: got_t.max(sent_t),
            sha256: hex(&sent_sum),
        };
        let _ = writeln!(out, "{}", t.line("sent"));
    }
    if got > 0 || args.recv {
        let t = Tally {
            bytes: got,
            elapsed: got_t,
            sha256: hex(&got_sum),
        };
        let _ = writeln!(out, "{}", t.line("received"));
    }
    if let Some(i) = info {
        let _ = writeln!(
            out,
            "tcp: {} segments out, {} in, {} retransmits, cwnd {}, srtt {}",
            i.segs_out,
            i.segs_in,
            i.retransmits,
            i.cwnd,
            i.srtt.map_or_else(
                || "-".to_string(),
                |d| format!("{:.3} ms", d.as_secs_f64() * 1e3)
            )
        );
    }
    if let Some(expect) = args.expect {
        if got != expect {
            return Err(format!("expected {expect} bytes, received {got}"));
        }
    }
    Ok(())
}

/// Checks that `path` can be read before the TUN device is made.
pub(crate) fn check_file(path: &Path) -> Result<(), String> {
    std::fs::metadata(path)
        .map_err(|e| format!("--send-file {}: {e}", path.display()))
        .and_then(|m| {
            if m.is_file() {
                Ok(())
            } else {
                Err(format!(
                    "--send-file {}: not a regular file",
                    path.display()
                ))
            }
        })
}
