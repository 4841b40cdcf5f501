//! The `linux` column: the kernel's TCP over loopback (127.0.0.1, std::net), a
//! client thread and a server thread. Every loop is bounded in count and time, and
//! every socket has a timeout; nothing but 127.0.0.1 is ever a target.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::bulk::{Pattern, Sample, Sink};
use crate::{cpu_time, median, progress, BenchOptions};

const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connection cycles one Linux measurement makes.
const MAX_CYCLES: u64 = 20_000;
/// Longest one Linux connection measurement runs.
const MAX_CYCLE_TIME: Duration = Duration::from_secs(5);

fn bind() -> Option<TcpListener> {
    TcpListener::bind(("127.0.0.1", 0)).ok()
}

/// One transfer; `expect` is the hash of what is sent, `hash_cpu` what hashing it
/// costs one core (taken out of the CPU time, as for the in-process rivals).
fn bulk_once(
    total: u64,
    pattern: &Pattern,
    expect: u64,
    hash_cpu: Duration,
) -> Result<Sample, String> {
    let listener = bind().ok_or("bind 127.0.0.1")?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = thread::spawn(move || -> Result<Sink, String> {
        let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut sink = Sink::new();
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match s.read(&mut buf).map_err(|e| e.to_string())? {
                0 => return Ok(sink),
                n => sink.take(&buf[..n]),
            }
        }
    });
    let (t0, c0) = (Instant::now(), cpu_time());
    let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut sent = 0;
    while sent < total {
        let chunk = pattern.at(sent, (total - sent).min(256 << 10));
        c.write_all(chunk).map_err(|e| e.to_string())?;
        sent += chunk.len() as u64;
    }
    c.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    let sink = server.join().map_err(|_| "server thread panicked")??;
    let (wall, cpu) = (t0.elapsed(), cpu_time().saturating_sub(c0));
    if sink.received != total || sink.digest() != expect {
        return Err("linux bulk: data mismatch".into());
    }
    Ok(Sample {
        // The hash runs on the server thread, overlapped with the sender: the wall
        // time keeps it, the CPU time does not.
        wall,
        cpu: cpu.saturating_sub(hash_cpu),
        allocs_per_seg: 0.0,
        acks_per_seg: 0.0,
    })
}

/// Median of `reps` loopback transfers of `bulk_bytes`, or None if loopback fails.
pub(crate) fn bulk(
    opts: &BenchOptions,
    pattern: &Pattern,
    expect: u64,
    hash_cpu: Duration,
) -> Option<Sample> {
    let mut v = Vec::new();
    for rep in 0..opts.reps.max(1) {
        progress(opts, &format!("linux bulk rep {rep}"));
        match bulk_once(opts.bulk_bytes, pattern, expect, hash_cpu) {
            Ok(s) => v.push(s),
            Err(e) => progress(opts, &format!("linux bulk failed: {e}")),
        }
    }
    let wall = median(v.iter().map(|s| s.wall.as_secs_f64()).collect())?;
    let cpu = median(v.iter().map(|s| s.cpu.as_secs_f64()).collect())?;
    Some(Sample {
        wall: Duration::from_secs_f64(wall),
        cpu: Duration::from_secs_f64(cpu),
        allocs_per_seg: 0.0,
        acks_per_seg: 0.0,
    })
}

/// Cycles per second, one connection at a time: connect, 1-byte request, 1-byte
/// response, the server closes, the client reads EOF and closes.
fn cycles_once(want: u64) -> Result<f64, String> {
    let listener = bind().ok_or("bind 127.0.0.1")?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = thread::spawn(move || -> Result<(), String> {
        let mut b = [0u8; 1];
        loop {
            let (mut s, _) = listener.accept().map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(IO_TIMEOUT))
                .map_err(|e| e.to_string())?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            if s.read(&mut b).map_err(|e| e.to_string())? == 0 {
                return Ok(()); // the client's "stop" connection
            }
            s.write_all(&b).map_err(|e| e.to_string())?;
        }
    });
    let t0 = Instant::now();
    let mut done = 0u64;
    let mut b = [0u8; 1];
    while done < want && t0.elapsed() < MAX_CYCLE_TIME {
        let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        c.set_read_timeout(Some(IO_TIMEOUT))
            .map_err(|e| e.to_string())?;
        c.set_nodelay(true).map_err(|e| e.to_string())?;
        c.write_all(b"q").map_err(|e| e.to_string())?;
        c.read_exact(&mut b).map_err(|e| e.to_string())?;
        if c.read(&mut b).map_err(|e| e.to_string())? != 0 {
            return Err("linux cycles: data after the response".into());
        }
        done += 1;
    }
    let rate = done as f64 / t0.elapsed().as_secs_f64();
    // Tell the server to stop: a connection that sends nothing.
    drop(TcpStream::connect(addr));
    server.join().map_err(|_| "server thread panicked")??;
    Ok(rate)
}

/// Median cycles per second at concurrency 1 over loopback.
pub(crate) fn cycles(opts: &BenchOptions) -> Option<f64> {
    let mut v = Vec::new();
    for rep in 0..opts.reps.max(1) {
        progress(opts, &format!("linux connections rep {rep}"));
        match cycles_once(opts.cycles.min(MAX_CYCLES)) {
            Ok(r) => v.push(r),
            Err(e) => progress(opts, &format!("linux connections failed: {e}")),
        }
    }
    median(v)
}
