//! The `haggle` command: thin glue. Parse arguments, find the data dir and the node, run one
//! command, map the result to an exit code (see [`exit_code`]).

#[macro_use]
mod output;
mod alloc;
mod args;
mod commands;
mod parse_errors;
mod run_node;

use std::io::{IsTerminal as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser};

use haggle_node::{ApiClient, ClientError, ErrorCode};

use crate::args::{Cli, Command};

/// What the command itself refuses, before or without the node: a mistake in how it was used
/// (exit code 2, `--json` code `usage`), or nothing matching what was given, as a name nobody
/// was given (exit code 4, `not_found`, as the node says it of an id).
#[derive(Debug)]
pub struct Refusal {
    exit: u8,
    code: &'static str,
    message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Refusal { exit: 2, code: "usage", message: message.into() }.into()
}

pub fn not_found(message: impl Into<String>) -> anyhow::Error {
    Refusal { exit: 4, code: "not_found", message: message.into() }.into()
}

/// A usage mistake found before the command runs: said (as JSON under `--json`), exit code 2.
fn usage_error(json: bool, message: &str) -> ExitCode {
    if json {
        json_error("usage", message, &[]);
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(2)
}

fn main() -> ExitCode {
    alloc::return_freed_memory_soon();
    // clap takes an empty HAGGLE_DATA_DIR for a missing --data-dir value (even beside the flag),
    // and says so, naming a flag that may never have been typed.
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let json_asked = args.iter().any(|a| a == "--json");
    if std::env::var_os("HAGGLE_DATA_DIR").is_some_and(|v| v.is_empty()) {
        // As JSON under --json, as every other usage error (from a trial).
        return usage_error(
            json_asked,
            "HAGGLE_DATA_DIR is set but empty: set it to a directory, or unset it to use the default data dir",
        );
    }
    // Parsed from the arguments as the OS gave them (a path need not be UTF-8).
    let parsed = Cli::try_parse();
    if let Err(e) = &parsed
        && let Some(message) = parse_errors::reworded(e, &Cli::command(), &args)
    {
        return usage_error(json_asked, &message);
    }
    let cli = match parsed {
        Ok(cli) => cli,
        // Help and version are not errors; a parse error with --json anywhere is reported as
        // JSON too (clap's text, without its usage hint, as the message).
        Err(e)
            if e.use_stderr()
                && e.kind() != clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                && json_asked =>
        {
            let text = e.render().to_string();
            let message = text
                .trim_start_matches("error: ")
                .split("\n\nUsage:")
                .next()
                .unwrap_or_default()
                .split("\n\nFor more information")
                .next()
                .unwrap_or_default()
                .trim();
            json_error("usage", message, &[]);
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    init_logging(&cli);
    let json_out = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            let candidates = match e.downcast_ref::<ClientError>() {
                Some(ClientError::Api { candidates, .. }) => candidates.as_slice(),
                _ => &[],
            };
            if json_out {
                let message = e.chain().map(ToString::to_string).collect::<Vec<_>>().join(": caused by: ");
                json_error(&error_code(&e), &message, candidates);
                return ExitCode::from(exit_code(&e));
            }
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if !candidates.is_empty() {
                let _ = writeln!(stderr, "candidates:");
                for c in candidates {
                    let _ = writeln!(stderr, "  {c}");
                }
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

/// With `--json`, an error is one line on stderr in the API's shape, `{"error": {"code",
/// "message"}}` (with `candidates` for an ambiguous id); stdout stays for the result.
fn json_error(code: &str, message: &str, candidates: &[String]) {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if !candidates.is_empty() {
        error["candidates"] = serde_json::json!(candidates);
    }
    let _ = writeln!(std::io::stderr().lock(), "{}", serde_json::json!({ "error": error }));
}

/// The exit code for `e`: 2 for a usage mistake (ours, or one the node found in what we sent),
/// 3 when no node answers (none runs for the data dir, it cannot be reached or does not
/// answer, or it refused the token), 4 when nothing matches an id or a name given, 1 for every other
/// failure (the node refused for the market's state: not your turn, the thread ended, ...).
fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(refusal) = e.downcast_ref::<Refusal>() {
        return refusal.exit;
    }
    let Some(client) = e.downcast_ref::<ClientError>() else { return 1 };
    match client {
        ClientError::Api { code, .. } if code.is_usage() => 2,
        ClientError::Api { code: ErrorCode::Unauthorized | ErrorCode::ShuttingDown, .. } => 3,
        ClientError::Api { code: ErrorCode::NotFound, .. } => 4,
        ClientError::Api { .. } | ClientError::BadResponse { .. } => 1,
        ClientError::NoNode { .. }
        | ClientError::Cookie { .. }
        | ClientError::Unreachable { .. }
        | ClientError::NoAnswer { .. }
        | ClientError::Dropped { .. }
        | ClientError::Stream { .. } => 3,
        _ => 1,
    }
}

/// The `code` of a `--json` error: the node's (as the API names it), or the command's own.
fn error_code(e: &anyhow::Error) -> String {
    if let Some(refusal) = e.downcast_ref::<Refusal>() {
        return refusal.code.to_owned();
    }
    let Some(client) = e.downcast_ref::<ClientError>() else { return "failed".to_owned() };
    match client {
        ClientError::Api { code, .. } => {
            serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
        }
        ClientError::NoNode { .. } | ClientError::Cookie { .. } => "no_node".to_owned(),
        ClientError::Unreachable { .. } => "unreachable".to_owned(),
        ClientError::NoAnswer { .. } => "no_answer".to_owned(),
        ClientError::Dropped { .. } => "dropped".to_owned(),
        ClientError::Stream { .. } => "stream_ended".to_owned(),
        ClientError::BadResponse { .. } => "bad_response".to_owned(),
        _ => "failed".to_owned(),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(cli: &Cli) {
    // haggle's own lines, and libp2p's (connections, dials, protocols): -vv adds libp2p's debug
    // lines, -vvv everything at trace.
    let (own, libp2p) = if cli.quiet {
        ("error", "error")
    } else {
        match cli.verbose {
            0 => ("info", "warn"),
            1 => ("debug", "warn"),
            2 => ("trace", "debug"),
            _ => ("trace", "trace"),
        }
    };
    // kad warns about an empty routing table on a lone node's first bootstrap: not worth a line
    // (unless asked for libp2p's lines).
    // AutoNAT's server warns each time a peer it was asked to dial back did not answer in
    // time, which is what a peer behind a NAT is: 33 lines in 7 minutes on a trial's public
    // node with three such peers, read as a fault.
    let quiet = if cli.verbose >= 2 { libp2p } else { "error" };
    let default = format!(
        "{libp2p},libp2p_kad={quiet},libp2p_autonat={quiet},haggle_node={own},haggle_storage={own},haggle={own}"
    );
    // A RUST_LOG that does not parse is said, not silently replaced by the default.
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) if !text.is_empty() => tracing_subscriber::EnvFilter::try_new(&text).unwrap_or_else(|e| {
            eprintln!("warning: RUST_LOG={text} is not a log filter ({e}); logging at the default levels");
            tracing_subscriber::EnvFilter::new(&default)
        }),
        _ => tracing_subscriber::EnvFilter::new(&default),
    };
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

fn data_dir(cli: &Cli) -> Result<PathBuf> {
    let dir = match &cli.data_dir {
        Some(dir) => dir.clone(),
        None => directories::ProjectDirs::from("", "", "haggle")
            .context("cannot find a home directory for the data dir: pass --data-dir or set HAGGLE_DATA_DIR")?
            .data_dir()
            .to_owned(),
    };
    // Every command would look for the node or its identity there, and say neither is there.
    if dir.exists() && !dir.is_dir() {
        return Err(usage(format!(
            "the data dir {} is a file, not a directory: choose another --data-dir (or HAGGLE_DATA_DIR)",
            dir.display()
        )));
    }
    Ok(dir)
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = data_dir(&cli)?;
    let json_out = cli.json;
    match cli.command {
        // --api names the node a client command asks; a node's own API address is --api-listen.
        Command::Node(_) if cli.api.is_some() => Err(usage(
            "--api is for client commands (the node they ask); the node's own API address is --api-listen ADDR",
        )),
        Command::Node(args) => {
            readable(&data_dir)?;
            run_node::run(&data_dir, args, json_out)
        }
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "haggle", &mut script);
            output::write_bytes(&script);
            Ok(())
        }
        Command::Id => id(&cli.api, &data_dir, json_out, cli.quiet),
        command => {
            let api = client(&cli.api, &data_dir)?;
            let cookie = match (&cli.api, std::env::var_os("HAGGLE_API_TOKEN")) {
                (Some(url), None) => Some((url.clone(), data_dir.join(haggle_node::COOKIE_FILE))),
                _ => None,
            };
            commands::run(command, &commands::Context { api: &api, json: json_out }).map_err(|e| {
                // `--api` with the token of the data dir's node: another node's refusal is said to
                // be about that (a trial read only "missing or wrong token").
                let refused = matches!(
                    e.downcast_ref::<ClientError>(),
                    Some(ClientError::Api { code: ErrorCode::Unauthorized, .. })
                );
                match cookie {
                    Some((url, cookie)) if refused => e.context(format!(
                        "the node at {url} refused the token in {}: that token belongs to that data dir's node, not to the node at {url}; give the --data-dir of the node at {url}, or its token in HAGGLE_API_TOKEN",
                        cookie.display()
                    )),
                    _ => e,
                }
            })
        }
    }
}

fn client(api: &Option<String>, data_dir: &std::path::Path) -> Result<ApiClient> {
    match api {
        Some(url) => {
            // The token: HAGGLE_API_TOKEN, else the data dir's api.cookie (a node reached at
            // another address than the one it wrote, through a tunnel, say).
            let token = match std::env::var("HAGGLE_API_TOKEN") {
                // As HAGGLE_DATA_DIR set but empty is said (from a trial).
                Ok(token) if token.trim().is_empty() => {
                    return Err(usage(
                        "HAGGLE_API_TOKEN is set but empty: set it to the contents of the node's api.cookie, or unset it to read the token from --data-dir",
                    ));
                }
                Ok(token) => token,
                Err(_) => std::fs::read_to_string(data_dir.join(haggle_node::COOKIE_FILE)).map_err(|_| {
                    usage(format!(
                        "--api needs the node's token: the contents of its api.cookie in HAGGLE_API_TOKEN, or the node's own --data-dir ({} holds no api.cookie)",
                        data_dir.display()
                    ))
                })?,
            };
            // A token pasted or read from a file may end in a newline.
            Ok(ApiClient::new(url, token.trim()))
        }
        None => {
            readable(data_dir)?;
            Ok(ApiClient::for_data_dir(data_dir)?)
        }
    }
}

/// Refuses a data dir this user may not read (another user's, made by the node's service
/// account): every later step would report it as missing ("no node is running", "no identity").
fn readable(data_dir: &std::path::Path) -> Result<()> {
    match std::fs::read_dir(data_dir) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => anyhow::bail!(
            "cannot read the data dir {}: permission denied. It belongs to another user: run haggle as the user that runs the node (e.g. `sudo -u haggle haggle ...`), or give a --data-dir of your own",
            data_dir.display()
        ),
        _ => Ok(()),
    }
}

/// The address another node gives `--bootstrap` to join this one: one confirmed from outside
/// (a relayed one included, with this node's id after the relay's), else one this node listens
/// on off loopback and link-local, else the first.
fn join_address(external: &[String], listen: &[String], peer: &str) -> Option<String> {
    let away = listen
        .iter()
        .find(|a| !a.starts_with("/ip4/127.") && !a.starts_with("/ip6/::1/") && !a.starts_with("/ip6/fe80"));
    let addr = external.first().or(away).or(listen.first())?.clone();
    let own = format!("/p2p/{peer}");
    Some(if addr.ends_with(&own) { addr } else { format!("{addr}{own}") })
}

/// The node's id: from the data dir's identity file, or with `--api` from the node it names.
fn id(api: &Option<String>, data_dir: &std::path::Path, json_out: bool, quiet: bool) -> Result<()> {
    // The data dir's identity file says it without asking the node (which may be busy or hung).
    let peer = match api {
        Some(_) => client(api, data_dir)?.status()?.peer_id.to_string(),
        None => {
            readable(data_dir)?;
            let path = data_dir.join(haggle_node::KEY_FILE);
            // Its database there without its key: a new identity is not the way (`node` refuses
            // it, with these words).
            let db = data_dir.join("db");
            if !path.exists() && db.exists() {
                return Err(
                    haggle_node::StartError::KeyMissing { dir: data_dir.to_owned(), key: path, db }.into()
                );
            }
            if !path.exists() {
                let shown = data_dir.display();
                anyhow::bail!(
                    "no identity in {shown} yet: run `haggle --data-dir {shown} node` once to create one (or give the --data-dir of a node you ran before)"
                );
            }
            haggle_protocol::keyfile::load(&path)?.public().to_string()
        }
    };
    if json_out {
        outln!("{}", serde_json::json!({ "peer_id": peer }));
    } else {
        outln!("{peer}");
        // What another node needs is an address with it (a trial's newcomer found it only in
        // the start-up banner): said aside, to a person at a terminal, when the node answers
        // within a second (a busy or hung node is not waited for: the id is read from the file).
        if api.is_none() && !quiet && std::io::stderr().is_terminal() {
            let (tx, rx) = std::sync::mpsc::channel();
            let dir = data_dir.to_owned();
            std::thread::spawn(move || {
                let _ = tx.send(haggle_node::ApiClient::for_data_dir(&dir).and_then(|c| c.status()));
            });
            if let Ok(Ok(status)) = rx.recv_timeout(std::time::Duration::from_secs(1))
                && let Some(addr) =
                    join_address(&status.network.external_addrs, &status.network.listen_addrs, &peer)
            {
                eprintln!("Another node joins this one with: haggle node --bootstrap {addr}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// From the review: a relayed address confirmed from outside ends in the relay's circuit, and
    /// `--bootstrap` needs this node's id after it; loopback and link-local addresses are no use
    /// to another machine.
    #[test]
    fn the_join_address_is_one_another_node_can_dial_with_this_nodes_id() {
        let me = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
        let relayed =
            "/ip4/203.0.113.5/tcp/4001/p2p/12D3KooWCqXVSxAZMeVs7RmfcSwtWD7jBBD5qFVEZ95MJ1LJmCrW/p2p-circuit";
        let said = super::join_address(&[relayed.to_owned()], &[], me).expect("an address");
        assert_eq!(said, format!("{relayed}/p2p/{me}"));
        haggle_node::config::bootstrap_peer(&said).expect("taken by --bootstrap");
        let listen = ["/ip4/127.0.0.1/tcp/7400", "/ip6/fe80::1/tcp/7400", "/ip4/192.168.1.20/tcp/7400"]
            .map(String::from);
        assert_eq!(
            super::join_address(&[], &listen, me),
            Some(format!("/ip4/192.168.1.20/tcp/7400/p2p/{me}"))
        );
        assert_eq!(
            super::join_address(&[], &listen[..1], me),
            Some(format!("/ip4/127.0.0.1/tcp/7400/p2p/{me}")),
            "loopback when it is all there is"
        );
    }
}
