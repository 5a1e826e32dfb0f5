//! `qix-mock`: serves a mock QIX engine until Ctrl-C.

// Nothing that came off the wire may be unwrapped; tests may.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use qix_mock::{MockConfig, MockEngine};

const USAGE: &str = "\
qix-mock: a mock Qlik Associative Engine (QIX) for testing clients

Usage: qix-mock [--host <ip>] [--port <port>] [--ttl <seconds>] [--seed <file>]

Options:
  --host <ip>        address to listen on (default 127.0.0.1)
  --port <port>      port to listen on, 0 for any free one (default 9076)
  --ttl <seconds>    how long an engine session outlives its last socket when the URL
                     has no /ttl/<seconds>, so a client can suspend and resume
                     (default 30, at most 1800; 0 drops it with its last socket)
  --seed <file>      apps and objects to serve, as JSON (see qix-mock's examples/seed.json)
  -h, --help         print this help

Connect to ws://<host>:<port>/app/<app>[/identity/<id>][/ttl/<seconds>].
Apps not in the seed are created empty on first OpenDoc. Ctrl-C stops the server.";

/// Long enough for a person trying suspend and resume by hand.
const DEFAULT_TTL: u64 = 30;

#[derive(Debug, PartialEq)]
struct Options {
    host: IpAddr,
    port: u16,
    ttl: u64,
    seed: Option<PathBuf>,
}

/// `Ok(None)` means help was asked for.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 9076,
        ttl: DEFAULT_TTL,
        seed: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--host" => {
                let text = value("--host")?;
                options.host = text
                    .parse()
                    .map_err(|_| format!("--host: `{text}` is not an IP address"))?;
            }
            "--port" => {
                let text = value("--port")?;
                options.port = text
                    .parse()
                    .map_err(|_| format!("--port: `{text}` is not a port number (0-65535)"))?;
            }
            "--ttl" => {
                let text = value("--ttl")?;
                options.ttl = text
                    .parse()
                    .ok()
                    .filter(|&ttl| ttl <= 1800)
                    .ok_or_else(|| {
                        format!("--ttl: `{text}` is not a number of seconds from 0 to 1800")
                    })?;
            }
            "--seed" => options.seed = Some(PathBuf::from(value("--seed")?)),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Some(options))
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("qix-mock: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("qix-mock: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> ExitCode {
    let mut config = MockConfig::new()
        .bind(SocketAddr::new(options.host, options.port))
        .default_ttl(Duration::from_secs(options.ttl))
        .record(false);
    if let Some(path) = &options.seed {
        let seeded = std::fs::read_to_string(path)
            .map_err(|error| error.to_string())
            .and_then(|text| config.seed_json(&text).map_err(|error| error.to_string()));
        config = match seeded {
            Ok(config) => config,
            Err(error) => {
                eprintln!("qix-mock: --seed {}: {error}", path.display());
                return ExitCode::from(2);
            }
        };
    }
    let engine = match MockEngine::start_with(config).await {
        Ok(engine) => engine,
        Err(error) => {
            eprintln!(
                "qix-mock: cannot listen on {}: {error}",
                SocketAddr::new(options.host, options.port)
            );
            return ExitCode::FAILURE;
        }
    };
    println!("qix-mock: mock QIX engine listening on {}", engine.url(""));
    println!(
        "qix-mock: connect to {} (any app id works)",
        engine.app_url("engineData")
    );
    println!("qix-mock: Ctrl-C stops it");
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("qix-mock: cannot wait for Ctrl-C: {error}");
    }
    println!("qix-mock: shutting down");
    engine.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_flags_with_separate_or_inline_values() {
        let options = parse(args("--host 0.0.0.0 --port=0 --ttl 30"))
            .unwrap()
            .unwrap();
        assert_eq!(
            options,
            Options {
                host: IpAddr::from([0, 0, 0, 0]),
                port: 0,
                ttl: 30,
                seed: None,
            }
        );
        let defaults = parse(args("")).unwrap().unwrap();
        assert_eq!((defaults.port, defaults.ttl), (9076, DEFAULT_TTL));
        let seeded = parse(args("--seed apps.json --ttl 0")).unwrap().unwrap();
        assert_eq!(
            (seeded.seed, seeded.ttl),
            (Some(PathBuf::from("apps.json")), 0)
        );
        assert_eq!(parse(args("--port 1 -h")).unwrap(), None);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (line, expected) in [
            ("--port", "--port needs a value"),
            ("--seed", "--seed needs a value"),
            ("--port 70000", "not a port number"),
            ("--host localhost", "not an IP address"),
            ("--ttl 1801", "from 0 to 1800"),
            ("--ttl -1", "from 0 to 1800"),
            ("--verbose", "unknown argument `--verbose`"),
        ] {
            let error = parse(args(line)).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }
}
