//! Running the real `streamdump` binary in failure tests: with a deadline (a hang fails the test
//! instead of stalling the run), and asserting that a failure is one clear first stderr line, a
//! JSON error object with `--json`, and never a password in any output. Messages built here
//! redact URL passwords.

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{stderr, stdout};

/// `text` with the password of every `scheme://user:password@` URL in it replaced by `***`, for
/// messages: test URLs may carry a password.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let authority_end =
            tail.find(|c: char| c == '/' || c == '@' || c.is_whitespace()).unwrap_or(tail.len());
        if tail[authority_end..].starts_with('@') {
            let userinfo = &tail[..authority_end];
            match userinfo.split_once(':') {
                Some((user, _)) => out.push_str(&format!("{user}:***")),
                None => out.push_str(userinfo),
            }
            rest = &tail[authority_end..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

/// The real binary with the test S3 credentials in its environment (no connection strings, no
/// `RUST_LOG`, so the first stderr line of a failure is the error), output piped, not started.
pub fn streamdump_command(args: &[&str]) -> Command {
    let env_or = |name: &str, default: &str| {
        std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamdump"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL_S3", super::s3_endpoint())
        .env("AWS_ACCESS_KEY_ID", env_or("AWS_ACCESS_KEY_ID", "testkey"))
        .env("AWS_SECRET_ACCESS_KEY", env_or("AWS_SECRET_ACCESS_KEY", "testsecret"))
        .env("AWS_REGION", env_or("AWS_REGION", "us-east-1"))
        .env_remove("STREAMDUMP_SOURCE")
        .env_remove("STREAMDUMP_TARGET")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Wait for a child started by `streamdump_command`, killing it (and failing the test with what
/// it printed, passwords redacted) if it runs longer than `limit`: a hang is a failure, not a
/// stuck test run.
pub fn finish_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let mut out_pipe = child.stdout.take().expect("piped stdout");
    let mut err_pipe = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for streamdump") {
            break Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    match status {
        Some(status) => Output { status, stdout, stderr },
        None => panic!(
            "{what} did not finish within {limit:?} and was killed\nstdout: {}\nstderr: {}",
            redact(&String::from_utf8_lossy(&stdout)),
            redact(&String::from_utf8_lossy(&stderr))
        ),
    }
}

/// Run the binary to completion, bounded by `limit`.
pub fn run_within(args: &[&str], limit: Duration) -> Output {
    let child = streamdump_command(args).spawn().expect("starting streamdump");
    finish_within(child, limit, &redact(&format!("streamdump {}", args.join(" "))))
}

pub fn first_stderr_line(out: &Output) -> String {
    stderr(out).lines().next().unwrap_or_default().to_string()
}

/// None of `secrets` appears anywhere in the output. (The failure message shows the output with
/// URL passwords redacted and the secret replaced, so it leaks nothing itself.)
pub fn assert_no_secrets(out: &Output, secrets: &[&str], what: &str) {
    let both = format!("{}{}", stdout(out), stderr(out));
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(
            !both.contains(secret),
            "{what}: a password appears in the output (shown redacted of URL passwords)\n\
             stdout: {}\nstderr: {}",
            redact(&stdout(out)).replace(secret, "<PASSWORD>"),
            redact(&stderr(out)).replace(secret, "<PASSWORD>")
        );
    }
}

/// The run failed; its first stderr line is an error line containing every needle; none of
/// `secrets` appears anywhere in its output.
pub fn assert_failed_naming(out: &Output, needles: &[&str], secrets: &[&str], what: &str) {
    assert_no_secrets(out, secrets, what);
    assert!(
        !out.status.success(),
        "{what}: expected a failure, got success\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    let first = first_stderr_line(out);
    assert!(
        first.starts_with("error:"),
        "{what}: the first stderr line should be the error, got: {first:?}\nfull stderr: {}",
        stderr(out)
    );
    for needle in needles {
        assert!(
            first.contains(needle),
            "{what}: the first stderr line should name {needle:?}: {first}\nfull stderr: {}",
            stderr(out)
        );
    }
}

/// Run `args` twice: plain, checking the first stderr line; and with `--json`, checking that
/// stdout is one JSON object whose `error.type` is `error_type` and whose `error.message` names
/// the problem too.
pub fn assert_fails_clearly(
    args: &[&str],
    needles: &[&str],
    error_type: &str,
    secrets: &[&str],
    limit: Duration,
) {
    let what = redact(&format!("streamdump {}", args.join(" ")));
    let out = run_within(args, limit);
    assert_failed_naming(&out, needles, secrets, &what);

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let what = format!("{what} --json");
    let out = run_within(&json_args, limit);
    assert_failed_naming(&out, needles, secrets, &what);
    let report: Value = serde_json::from_str(stdout(&out).trim()).unwrap_or_else(|e| {
        panic!("{what}: stdout is not one JSON object ({e}): {:?}", stdout(&out))
    });
    assert_eq!(
        report["error"]["type"].as_str(),
        Some(error_type),
        "{what}: error.type in the JSON report: {report}"
    );
    let message = report["error"]["message"].as_str().unwrap_or_default();
    for needle in needles {
        assert!(message.contains(needle), "{what}: error.message should name {needle:?}: {report}");
    }
}

/// `verify` fails, and both its plain and its `--json` output name exactly `url` as the one
/// object that does not match.
pub fn assert_verify_names(manifest_url: &str, url: &str, limit: Duration) {
    let out = run_within(&["verify", "--from", manifest_url], limit);
    assert!(
        !out.status.success(),
        "verify passed a backup with a flipped byte in {url}\nstdout: {}",
        stdout(&out)
    );
    let both = format!("{}{}", stdout(&out), stderr(&out));
    assert!(both.contains(url), "verify output does not name {url}:\n{both}");
    assert!(
        first_stderr_line(&out).contains(url),
        "verify's first stderr line should name {url}: {}",
        stderr(&out)
    );

    let out = run_within(&["verify", "--from", manifest_url, "--json"], limit);
    assert!(!out.status.success(), "verify --json passed a damaged backup");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verify --json: not JSON ({e}): {}", stdout(&out)));
    let failed: Vec<&str> = report["failures"]
        .as_array()
        .expect("failures in the verify report")
        .iter()
        .filter_map(|f| f["key"].as_str())
        .collect();
    assert_eq!(failed, vec![url], "objects verify reports as failed: {report}");
}
