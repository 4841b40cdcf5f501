//! Helpers shared by the synack-cli tests: running the tool in-process or as the
//! built binary, and reading its JSON lines.

#![allow(dead_code, unreachable_pub)]

use std::process::Command;

use serde_json::Value;

/// Runs `synack sim ARGS` in-process: (exit status, stdout, stderr).
pub fn sim(args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["synack", "sim"];
    argv.extend_from_slice(args);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = synack_cli::run(argv, &mut out, &mut err, false);
    (
        code,
        String::from_utf8(out).expect("stdout is UTF-8"),
        String::from_utf8(err).expect("stderr is UTF-8"),
    )
}

/// Runs the built `synack` binary with `args`: (exit status, stdout, stderr).
pub fn binary(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("the synack binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every stdout line parsed as JSON (panics on a line that is not).
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The summary: the last line, of type "summary".
pub fn summary(lines: &[Value]) -> &Value {
    let last = lines.last().expect("at least one line");
    assert_eq!(last["type"], "summary", "last line is the summary: {last}");
    last
}

/// One socket's state path as the JSON shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub host: String,
    pub socket: String,
    pub states: Vec<String>,
}

/// The state path of every socket, in order of first appearance; a socket whose
/// last path ended and that starts again from another state begins a new path
/// (a new incarnation of the same 4-tuple).
pub fn paths(lines: &[Value]) -> Vec<Path> {
    let mut out: Vec<Path> = Vec::new();
    for l in lines.iter().filter(|l| l["type"] == "state") {
        let (host, socket) = (l["host"].as_str().unwrap(), l["socket"].as_str().unwrap());
        let (from, to) = (l["from"].as_str().unwrap(), l["to"].as_str().unwrap());
        let latest = out
            .iter_mut()
            .rev()
            .find(|p| p.host == host && p.socket == socket);
        match latest {
            Some(p) if p.states.last().map(String::as_str) == Some(from) => {
                p.states.push(to.to_owned());
            }
            _ => out.push(Path {
                host: host.to_owned(),
                socket: socket.to_owned(),
                states: vec![from.to_owned(), to.to_owned()],
            }),
        }
    }
    out
}

/// The connection paths (not listeners) of `host`.
pub fn conns<'a>(paths: &'a [Path], host: &str) -> Vec<&'a Path> {
    paths
        .iter()
        .filter(|p| p.host == host && !p.socket.ends_with("*:*"))
        .collect()
}

/// The only connection path of `host`, as a vector of state names.
pub fn only(paths: &[Path], host: &str) -> Vec<String> {
    let c = conns(paths, host);
    assert_eq!(c.len(), 1, "one connection on the {host}: {paths:?}");
    c[0].states.clone()
}

/// `["CLOSED", "SYN-SENT"]` from `"CLOSED SYN-SENT"`.
pub fn states(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// The segment lines.
pub fn segments(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["type"] == "segment").collect()
}
