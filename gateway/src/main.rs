//! `tandem`: the TDM-to-SIP gateway's daemon and operator CLI.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tandem_drivers::{Discovery, config};
use tandem_gateway::cli::status;
use tandem_gateway::config::Config;

/// Tandem: an open-source TDM-to-SIP media gateway.
#[derive(Parser, Debug)]
#[command(name = "tandem", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway: bring up the configured spans, PRI D-channels, analog ports, CAS trunks (T1 E&M/FGB/FGD, E1 MFC/R2) and SIP side, and route calls between them until SIGTERM (which drains calls first). SIGHUP reloads the configuration file without dropping calls (see `tandem reload`).
    Run(RunArgs),
    /// List spans: type, framing/coding, alarms, timing source, error counters and channel roles.
    Spans(ShowArgs),
    /// List channels: role (signalling, in Tandem's naming), hook state, law, ABCD bits and alarms.
    Channels(ShowArgs),
    /// Ask the running daemon for its calls, TDM interfaces (with each CAS channel's state) and SIP trunks (through its control socket).
    Status(StatusArgs),
    /// List the running daemon's calls: id (as in the logs and CDRs), direction, state (setup, ringing, answered, releasing), both legs (TDM interface, span and channel; SIP trunk, Call-ID and remote), numbers, start and duration.
    Calls(StatusArgs),
    /// Clear a call of the running daemon on both legs (SIP BYE or CANCEL with Reason, PRI DISCONNECT, the analog or CAS clear) with a Q.850 cause; the CDR is written as usual. Exits 1 for an unknown call id.
    Hangup(HangupArgs),
    /// Block channels: `<span>:<chans>` (e.g. `1:1-4,7`) or `<span>` for the whole span. A blocked channel takes no new call: the outbound hunt skips it, a PRI SETUP that prefers it is given another channel and one that insists on it gets RELEASE COMPLETE cause 44, a CAS channel is busied out (the alarm's bits), an FXS phone is not rung, an FXO line is not seized and ignores ringing. On NI-2, DMS-100, 4ESS and 5ESS PRIs the far end is told with SERVICE (out of service once the channel is idle, in service on unblock); on EuroISDN and QSIG the block is local only, and the reply says so. A call on it goes on until it ends, unless --now.
    Block(BlockArgs),
    /// Unblock channels blocked with `tandem block` (same `<span>[:<chans>]`); CAS channels return to idle.
    Unblock(UnblockArgs),
    /// Show or change the running daemon's log filter without a restart (tracing syntax, as `--log`): e.g. `tandem log-level info,tandem_gateway::sip=debug` to watch SIP, then `tandem log-level info`. Prints the filter in force (and the one it replaced). Exits 1 for a filter that does not parse (the old one stays).
    LogLevel(LogLevelArgs),
    /// Reload the running daemon's configuration file without dropping calls (as SIGHUP does): it is checked as `tandem check` does; routes, SIP trunks, span groups, limits, the drain timeout and the CDR file apply live; what needs a restart (`[dahdi]`, TDM interfaces, SIP listeners, RTP ports, sockets) is listed, not applied; the CDR file is reopened. Exits 1 if the file is invalid (errors as file:line:column; nothing changes).
    Reload(ReloadArgs),
    /// Validate a configuration file; errors are printed as file:line:column.
    Check(CheckArgs),
    /// Validate the `[dahdi]` section (or a system.conf) against the hardware and apply it, as dahdi_cfg does.
    Configure(ConfigureArgs),
    /// Convert DAHDI's /etc/dahdi/system.conf to Tandem's `[dahdi]` TOML (the hardware must be present).
    ConvertSystemConf(ConvertArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The configuration file (tandem.toml).
    #[arg(long)]
    config: PathBuf,
    /// DAHDI device directory; overrides `[general] device_dir` (a tandem-sim mount works).
    #[arg(long)]
    device_dir: Option<PathBuf>,
    /// Log filter (tracing syntax), e.g. "info" or "tandem::q931=info,debug"; `RUST_LOG` also works.
    #[arg(long)]
    log: Option<String>,
    /// Realtime scheduling, as `[process] realtime = true` (which it overrides): the media pump threads run SCHED_FIFO at `[process] realtime_priority` (default 50), the D-channel, analog and CAS threads one below, and memory is locked (mlockall). Needs root, CAP_SYS_NICE or LimitRTPRIO; without them a warning is logged and tandem runs on.
    #[arg(long)]
    realtime: bool,
}

#[derive(clap::Args, Debug)]
struct LogLevelArgs {
    /// The new filter, e.g. "debug" or "info,tandem_gateway::sip=debug"; without it, the filter in force is shown.
    filter: Option<String>,
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
}

#[derive(clap::Args, Debug)]
struct StatusArgs {
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
    /// Print the daemon's JSON reply instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct HangupArgs {
    /// The call id (16 hex digits, as `tandem calls`, the logs and the CDRs show it).
    call_id: String,
    /// The Q.850 cause both legs are cleared with (16 normal clearing; 1-127).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u8).range(1..=127))]
    cause: u8,
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
}

#[derive(clap::Args, Debug)]
struct BlockArgs {
    /// `<span>:<chans>` (positions within the span: `1-4,7`) or `<span>` for all its channels.
    channels: String,
    /// Clear a call on a blocked channel at once (Q.850 cause 41, temporary failure) instead of letting it finish.
    #[arg(long)]
    now: bool,
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
}

#[derive(clap::Args, Debug)]
struct UnblockArgs {
    /// `<span>:<chans>` (positions within the span: `1-4,7`) or `<span>` for all its channels.
    channels: String,
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ReloadArgs {
    /// The daemon's control socket.
    #[arg(long, default_value = "/run/tandem/tandem.sock")]
    socket: PathBuf,
    /// Print the daemon's JSON reply instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The configuration file (tandem.toml).
    #[arg(long)]
    config: PathBuf,
    /// Also validate against the hardware found in this device directory.
    #[arg(long)]
    device_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[group(required = true, multiple = false)]
struct ConfigureSource {
    /// The configuration file (tandem.toml): its `[dahdi]` section.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Or DAHDI's own system.conf, as dahdi_cfg would read it.
    #[arg(long)]
    system_conf: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ConfigureArgs {
    #[command(flatten)]
    source: ConfigureSource,
    /// DAHDI device directory; overrides `device_dir` in the file.
    #[arg(long)]
    device_dir: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// DAHDI's system.conf.
    #[arg(default_value = "/etc/dahdi/system.conf")]
    system_conf: PathBuf,
    /// DAHDI device directory (to map channel numbers to spans).
    #[arg(long, default_value = tandem_drivers::DEFAULT_DEVICE_DIR)]
    device_dir: PathBuf,
    /// sysfs root.
    #[arg(long, default_value = "/sys")]
    sysfs: PathBuf,
}

#[derive(clap::Args, Debug)]
struct ShowArgs {
    /// DAHDI device directory (a tandem-sim mount works too).
    #[arg(long, default_value = tandem_drivers::DEFAULT_DEVICE_DIR)]
    device_dir: PathBuf,
    /// sysfs root, for DAHDI's span and device attributes where present.
    #[arg(long, default_value = "/sys")]
    sysfs: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tandem: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Status(a) => {
            let v = tandem_gateway::control::request(&a.socket, &serde_json::json!({"op": "status"}), std::time::Duration::from_secs(5))
                .map_err(|e| format!("{}: {e} (is tandem running? see --socket)", a.socket.display()))?;
            if a.json {
                println!("{v}");
            } else {
                println!("calls: {}{}", v["calls"], if v["draining"] == true { " (draining)" } else { "" });
                let rt = &v["realtime"];
                if rt["on"] == true {
                    println!(
                        "realtime: on (SCHED_FIFO {} media pump, {} signalling; memory {})",
                        rt["media_priority"],
                        rt["signalling_priority"],
                        if rt["memory_locked"] == true { "locked" } else { "NOT locked" }
                    );
                } else {
                    println!("realtime: off");
                }
                for i in v["interfaces"].as_array().into_iter().flatten() {
                    let c = &i["channels"];
                    println!(
                        "{} {}: {} — {} idle, {} busy, {} in alarm, {} blocked, {} other",
                        i["kind"].as_str().unwrap_or("interface"),
                        i["name"].as_str().unwrap_or("?"),
                        if i["up"] == true { "up" } else { "DOWN" },
                        c["idle"],
                        c["busy"],
                        c["alarm"],
                        c["blocked"],
                        c["other"]
                    );
                    let blocks: Vec<String> = i["blocks"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|b| match b["blocked_by"].as_str() {
                            Some("local") | None => b["channel"].as_str().unwrap_or("?").to_owned(),
                            Some(by) => format!("{} ({by})", b["channel"].as_str().unwrap_or("?")),
                        })
                        .collect();
                    if !blocks.is_empty() {
                        println!("  blocked: {}", blocks.join(" "));
                    }
                    if let Some(note) = i["block_note"].as_str() {
                        println!("  blocks: {note}");
                    }
                    // CAS trunks: one line per channel.
                    for ch in i["cas_channels"].as_array().into_iter().flatten() {
                        println!("  cas span {} channel {} (dahdi {}): {}", ch["span"], ch["pos"], ch["channo"], ch["state"].as_str().unwrap_or("?"));
                    }
                }
                for t in v["trunks"].as_array().into_iter().flatten() {
                    println!(
                        "trunk {} ({}): {}, {} calls",
                        t["name"].as_str().unwrap_or("?"),
                        t["kind"].as_str().unwrap_or("?"),
                        t["state"].as_str().unwrap_or("?"),
                        t["active_calls"]
                    );
                }
                println!("malformed SIP requests answered: {}", v["sip_malformed"]);
            }
        }
        Command::Calls(a) => {
            let v = ask(&a.socket, serde_json::json!({"op": "calls"}))?;
            if a.json {
                println!("{v}");
            } else {
                print!("{}", calls_text(&v));
            }
        }
        Command::Hangup(a) => {
            ask(&a.socket, serde_json::json!({"op": "call.hangup", "call": a.call_id, "cause": a.cause}))?;
            println!("call {}: clearing with cause {}", a.call_id, a.cause);
        }
        Command::Block(a) => {
            let v = block(&a.socket, &a.channels, true, a.now)?;
            for id in v["cleared"].as_array().into_iter().flatten() {
                println!("call {}: cleared (cause {})", id.as_str().unwrap_or("?"), tandem_gateway::control::BLOCK_NOW_CAUSE);
            }
        }
        Command::Reload(a) => {
            let v = tandem_gateway::control::request(&a.socket, &serde_json::json!({"op": "reload"}), std::time::Duration::from_secs(10))
                .map_err(|e| format!("{}: {e} (is tandem running? see --socket)", a.socket.display()))?;
            if a.json {
                println!("{v}");
            }
            if v["ok"] != true {
                let errors: Vec<&str> = v["errors"].as_array().into_iter().flatten().filter_map(|e| e.as_str()).collect();
                let text = if errors.is_empty() { v["error"].as_str().unwrap_or("the daemon refused the reload").to_owned() } else { errors.join("\n") };
                return Err(format!("configuration not reloaded, nothing changed:\n{text}"));
            }
            if !a.json {
                let list = |k: &str| v[k].as_array().into_iter().flatten().filter_map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                let applied = list("applied");
                println!("reloaded; applied: {}", if applied.is_empty() { "nothing changed" } else { &applied });
                let restart = list("restart_needed");
                if !restart.is_empty() {
                    println!("needs a restart (not applied): {restart}");
                }
            }
        }
        Command::LogLevel(a) => {
            let v = ask(&a.socket, serde_json::json!({"op": "log.level", "filter": a.filter}))?;
            match v["previous"].as_str() {
                Some(prev) => println!("log filter: {} (was {prev})", v["filter"].as_str().unwrap_or("?")),
                None => println!("log filter: {}", v["filter"].as_str().unwrap_or("?")),
            }
        }
        Command::Unblock(a) => {
            block(&a.socket, &a.channels, false, false)?;
        }
        Command::Run(a) => {
            // SAFETY: nothing has started a thread yet (clap and the config load do not).
            let notify = unsafe { tandem_gateway::notify::Notifier::take_from_env() };
            let mut cfg = Config::load(&a.config).map_err(|d| diagnostics(&d))?;
            if let Some(dir) = a.device_dir {
                cfg.override_device_dir(&dir);
            }
            if a.realtime {
                cfg.process.realtime = Some(true);
            }
            tandem_gateway::logging::init(a.log.as_deref(), cfg.general.log_format());
            let notify = notify.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "systemd notifications off");
                None
            });
            tandem_gateway::daemon::run(cfg, notify).map_err(|e| e.to_string())?;
        }
        Command::Spans(a) => {
            let inv = Discovery { device_dir: a.device_dir, sysfs_root: a.sysfs }.scan().map_err(|e| e.to_string())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status::spans_json(&inv)).unwrap_or_default());
            } else {
                print!("{}", status::spans_text(&inv));
            }
        }
        Command::Channels(a) => {
            let inv = Discovery { device_dir: a.device_dir, sysfs_root: a.sysfs }.scan().map_err(|e| e.to_string())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&status::channels_json(&inv)).unwrap_or_default());
            } else {
                print!("{}", status::channels_text(&inv));
            }
        }
        Command::Check(a) => {
            let full = Config::load(&a.config).map_err(|d| diagnostics(&d))?;
            let cfg = full.dahdi();
            if let Some(dir) = a.device_dir {
                let ctl = tandem_drivers::Ctl::open(&dir).map_err(|e| e.to_string())?;
                let hw = config::Hardware::discover(&ctl).map_err(|e| e.to_string())?;
                config::validate(&cfg, &hw).map_err(|e| e.to_string())?;
                println!("{}: OK (checked against the hardware in {})", a.config.display(), dir.display());
            } else {
                println!("{}: OK", a.config.display());
            }
        }
        Command::Configure(a) => {
            let (cfg, name, hw, ctl, dir) = if let Some(path) = &a.source.config {
                let (cfg, dir) = load(path)?;
                let dir = a.device_dir.clone().unwrap_or(dir);
                let ctl = tandem_drivers::Ctl::open(&dir).map_err(|e| e.to_string())?;
                let hw = config::Hardware::discover(&ctl).map_err(|e| e.to_string())?;
                (cfg, path.clone(), hw, ctl, dir)
            } else {
                let path = a.source.system_conf.clone().unwrap_or_default();
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                let dir = a.device_dir.clone().unwrap_or_else(|| tandem_drivers::DEFAULT_DEVICE_DIR.into());
                let ctl = tandem_drivers::Ctl::open(&dir).map_err(|e| e.to_string())?;
                let hw = config::Hardware::discover(&ctl).map_err(|e| e.to_string())?;
                let sc = config::SystemConf::parse(&text, &path.to_string_lossy(), &hw).map_err(|e| e.to_string())?;
                for n in &sc.notes {
                    eprintln!("note: {n}");
                }
                (sc.config, path, hw, ctl, dir)
            };
            let plan = config::validate(&cfg, &hw).map_err(|e| e.to_string())?;
            let report = config::apply(&plan, &ctl).map_err(|e| e.to_string())?;
            println!(
                "{}: applied to {}: {} span(s) configured, {} channel(s) configured, {} unchanged, {} span(s) started",
                name.display(),
                dir.display(),
                report.spans_configured.len(),
                report.channels_configured.len(),
                report.channels_unchanged.len(),
                report.spans_started.len()
            );
        }
        Command::ConvertSystemConf(a) => {
            let text = std::fs::read_to_string(&a.system_conf).map_err(|e| format!("{}: {e}", a.system_conf.display()))?;
            let inv = Discovery { device_dir: a.device_dir, sysfs_root: a.sysfs }.scan().map_err(|e| e.to_string())?;
            let hw = config::Hardware::from_inventory(&inv);
            let toml = config::system_conf_to_toml(&text, &a.system_conf.to_string_lossy(), &hw).map_err(|e| e.to_string())?;
            print!("{toml}");
        }
    }
    Ok(())
}

/// Sends one request to the daemon's control socket; a reply with `"ok": false` is an error (exit code 1).
fn ask(socket: &std::path::Path, req: serde_json::Value) -> Result<serde_json::Value, String> {
    let v = tandem_gateway::control::request(socket, &req, std::time::Duration::from_secs(5))
        .map_err(|e| format!("{}: {e} (is tandem running? see --socket)", socket.display()))?;
    if v["ok"] == true { Ok(v) } else { Err(v["error"].as_str().unwrap_or("the daemon refused the request").to_owned()) }
}

/// `tandem block` / `tandem unblock`: prints the channels changed.
fn block(socket: &std::path::Path, spec: &str, blocked: bool, now: bool) -> Result<serde_json::Value, String> {
    let (span, chans) = tandem_gateway::control::parse_channel_spec(spec).map_err(|e| format!("{spec}: {e}"))?;
    let op = if blocked { "channel.block" } else { "channel.unblock" };
    let v = ask(socket, serde_json::json!({"op": op, "span": span, "channels": chans, "now": now}))?;
    for c in v["channels"].as_array().into_iter().flatten() {
        println!("{} {}:{} {}", c["interface"].as_str().unwrap_or("?"), c["span"], c["channel"], if blocked { "blocked" } else { "unblocked" });
    }
    for n in v["notes"].as_array().into_iter().flatten() {
        println!("{}: {}", n["interface"].as_str().unwrap_or("?"), n["note"].as_str().unwrap_or("?"));
    }
    Ok(v)
}

/// One line per call, then one per leg.
fn calls_text(v: &serde_json::Value) -> String {
    use std::fmt::Write;
    let calls = v["calls"].as_array().cloned().unwrap_or_default();
    let mut out = String::new();
    let leg = |l: &serde_json::Value| match l["kind"].as_str() {
        Some("tdm") => format!("tdm {} {}:{}", l["interface"].as_str().unwrap_or("?"), l["span"], l["channel"]),
        Some("sip") => format!(
            "sip {} call-id {} remote {}",
            l["trunk"].as_str().unwrap_or("?"),
            l["call_id"].as_str().unwrap_or("-"),
            l["remote"].as_str().unwrap_or("-")
        ),
        _ => "-".to_owned(),
    };
    for c in &calls {
        let _ = writeln!(
            out,
            "{} {} {} from {} to {} since {} ({}s{})",
            c["id"].as_str().unwrap_or("?"),
            c["direction"].as_str().unwrap_or("?"),
            c["state"].as_str().unwrap_or("?"),
            c["calling"].as_str().unwrap_or("-"),
            c["called"].as_str().unwrap_or("-"),
            c["start"].as_str().unwrap_or("?"),
            c["age_s"],
            c["duration_s"].as_f64().map(|d| format!(", answered {d}s")).unwrap_or_default()
        );
        let _ = writeln!(out, "  in:  {}", leg(&c["inbound"]));
        if !c["outbound"].is_null() {
            let _ = writeln!(out, "  out: {}", leg(&c["outbound"]));
        }
    }
    let _ = writeln!(out, "{} call(s)", calls.len());
    out
}

/// Read the `[dahdi]` section of a configuration file (the rest of the file
/// must parse, but only `tandem check` checks it), and the device directory.
fn load(path: &std::path::Path) -> Result<(config::DahdiConfig, PathBuf), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let full = Config::parse(&text, &path.to_string_lossy()).map_err(|d| diagnostics(&d))?;
    Ok((full.dahdi(), full.device_dir()))
}

/// Diagnostics, one per line (with their help lines).
fn diagnostics(d: &[config::Diagnostic]) -> String {
    d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
}
