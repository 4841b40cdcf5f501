//! The HTML report of `close` opened in headless Chromium (Debian's `chromium`):
//! its script runs without a console message or error, nothing is fetched, the
//! ladder has one `.segment` per recorded segment, the state diagram shades
//! exactly the states the run visited, and a screenshot is saved as
//! target/report-close.png.
//!
//! Without Chromium the test prints `skipped: chromium not installed`, unless the
//! environment variable CI is set, in which case it fails. SYNACK_CHROMIUM names
//! another binary.

mod common;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// How long one Chromium run may take (two shared cores can be slow).
const BROWSER_LIMIT: Duration = Duration::from_secs(180);

/// Chromium's binary, if installed; panics in CI when it is not.
fn chromium() -> Option<PathBuf> {
    let named = std::env::var_os("SYNACK_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|d| ["chromium", "chromium-browser"].map(|n| d.join(n)))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
            panic!("chromium not installed, and CI is set: install chromium (apt-get install chromium)");
        }
        println!("skipped: chromium not installed");
    }
    found
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("synack-browser-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs Chromium headless on `page` with `extra` flags and a fresh profile:
/// (stdout, stderr). Every host name resolves to nothing, so a fetch could not
/// leave the machine even if the page tried (it would show as an error).
fn browse(bin: &Path, scratch: &Path, page: &Path, extra: &[&str]) -> (String, String) {
    let profile = Scratch::new(&format!("profile-{}", extra.len()));
    let (out, err) = (scratch.join("stdout"), scratch.join("stderr"));
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if start.elapsed() > BROWSER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&out), read(&err))
}

/// Records, in attributes of `<html>`, every script error, console message and
/// loaded resource, and the page's height.
const PROBE: &str = r#"<script>(function(){
var root=document.documentElement,errs=[];
function note(m){errs.push(String(m));root.setAttribute("data-probe-errors",errs.join(" | "));}
window.addEventListener("error",function(e){note("error: "+(e.message||(e.target&&(e.target.src||e.target.href))||"?"));},true);
window.addEventListener("unhandledrejection",function(e){note("rejection: "+e.reason);});
["error","warn","log","info"].forEach(function(k){var f=console[k];console[k]=function(){note("console."+k+": "+Array.prototype.join.call(arguments," "));return f.apply(console,arguments);};});
window.addEventListener("load",function(){
root.setAttribute("data-probe-resources",performance.getEntriesByType("resource").map(function(r){return r.name;}).join(" "));
root.setAttribute("data-probe-height",String(root.scrollHeight));});
})();</script>"#;

/// The start tags beginning with `prefix`.
fn tags<'a>(html: &'a str, prefix: &str) -> Vec<&'a str> {
    html.match_indices(prefix)
        .map(|(i, _)| &html[i..i + html[i..].find('>').unwrap()])
        .collect()
}

/// The value of attribute `name` in start tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&tag[start..start + tag[start..].find('"')?])
}

/// The workspace's target directory (where the test binary lives).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/browser-HASH
    exe.ancestors()
        .nth(3)
        .expect("target directory")
        .to_path_buf()
}

#[test]
fn close_report_in_headless_chromium() {
    let Some(bin) = chromium() else { return };
    let scratch = Scratch::new("close");
    let report = scratch.0.join("close.html");
    let (code, out, err) = sim(&["close", "--json", "--html", report.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    let html = std::fs::read_to_string(&report).unwrap();
    for url in ["http://", "https://"] {
        let n = html.matches(url).count();
        let ns = html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
        let allowed = if url == "http://" { ns } else { 0 };
        assert_eq!(n, allowed, "{url} outside xmlns attributes");
    }

    // The page with the probe as the first thing in <head>.
    let probed = scratch.0.join("probed.html");
    std::fs::write(
        &probed,
        html.replacen("<head>", &format!("<head>{PROBE}"), 1),
    )
    .unwrap();
    let (dom, log) = browse(
        &bin,
        &scratch.0,
        &probed,
        &["--dump-dom", "--window-size=1280,900"],
    );
    let root = tags(&dom, "<html")[0];
    assert!(
        attr(root, "data-probe-height").is_some(),
        "the probe ran: {root}\n{log}"
    );
    assert_eq!(
        attr(root, "data-probe-errors"),
        None,
        "script errors or console messages"
    );
    assert_eq!(
        attr(root, "data-probe-resources"),
        Some(""),
        "nothing fetched"
    );
    for line in log.lines() {
        assert!(
            !line.contains("Uncaught") && !line.contains(":CONSOLE"),
            "browser log: {line}"
        );
    }
    assert_eq!(
        attr(tags(&dom, "<body")[0], "data-ready"),
        Some("1"),
        "the report's script ran"
    );

    // One .segment per recorded segment, all shown.
    let segs = segments(&lines);
    let rows = tags(&dom, "<g class=\"row segment");
    assert_eq!(rows.len(), segs.len(), "one .segment per segment");
    assert!(rows.iter().all(|r| attr(r, "display").is_none()));
    for (row, seg) in rows.iter().zip(&segs) {
        assert_eq!(attr(row, "data-fate"), seg["fate"].as_str());
        assert_eq!(attr(row, "data-len"), Some(seg["len"].to_string().as_str()));
    }
    assert!(
        tags(&dom, "<g class=\"row gap").is_empty(),
        "no gap in a short run"
    );

    // The state diagram shades exactly the visited states.
    let visited: BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["type"] == "state")
        .flat_map(|l| [l["from"].as_str().unwrap(), l["to"].as_str().unwrap()])
        .collect();
    let shaded: BTreeSet<&str> = tags(&dom, "<g class=\"state visited\"")
        .iter()
        .filter_map(|t| attr(t, "data-state"))
        .collect();
    assert_eq!(shaded, visited);
    let all_states = tags(&dom, "<g class=\"state").len();
    assert_eq!(all_states, synack::State::ALL.len());

    // A screenshot of the whole report.
    let height: u32 = attr(root, "data-probe-height").unwrap().parse().unwrap();
    let png = target_dir().join("report-close.png");
    let _ = std::fs::remove_file(&png);
    let size = format!("--window-size=1280,{}", height.clamp(600, 8000));
    let shot = format!("--screenshot={}", png.display());
    let (_, log) = browse(
        &bin,
        &scratch.0,
        &report,
        &[&shot, &size, "--hide-scrollbars"],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("{}: {e}\n{log}", png.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    assert_eq!(width, 1280);
    println!("screenshot: {}", png.display());
}
