//! `tandem-sim`: simulated DAHDI hardware over FUSE.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;
use parking_lot::Mutex;

use hw_sim::config::SimConfig;
use hw_sim::fs::{DahdiFs, State};

/// Simulate DAHDI telephony cards (analog FXS/FXO, T1/E1) as a FUSE
/// filesystem of DAHDI device files, with far ends scripted through a
/// control socket.
#[derive(Parser, Debug)]
#[command(name = "tandem-sim", version, after_help = AFTER_HELP)]
struct Args {
    /// The simulator's TOML: cards, ports, spans and what each line is connected to.
    #[arg(long)]
    config: String,
    /// Directory to mount the DAHDI device files on (e.g. /dev/dahdi in a private mount namespace).
    #[arg(long)]
    mount: String,
    /// Path of the control socket (line-delimited JSON).
    #[arg(long)]
    control: String,
    /// Log filter (tracing syntax), e.g. "info" or "hw_sim=debug".
    #[arg(long, default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Runs in the foreground until SIGTERM or SIGINT, then unmounts and exits 0.

Files under --mount: ctl, channel, pseudo, timer, chan/SSS/CCC.
External spans expose their D-channel as a SOCK_SEQPACKET socket at
<control>.span<N> (one LAPD frame per packet, no flags, no FCS).
The config format and the control protocol are documented in the README
(\"tandem-sim\" section) and in hw-sim/src/config.rs and control.rs.";

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(args) {
        eprintln!("tandem-sim: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let cfg = SimConfig::load(&args.config).map_err(|e| e.to_string())?;
    let (dahdi, externals) = cfg.build(&args.config).map_err(|e| e.to_string())?;
    let nspans = dahdi.spans.len();
    let nchans = dahdi.chans.len();
    let state = Arc::new(Mutex::new(State::new(dahdi, Duration::from_millis(cfg.sim.hold_limit_ms))));

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("signal handler: {e}"))?;
    }

    std::fs::create_dir_all(&args.mount).map_err(|e| format!("{}: {e}", args.mount))?;
    let mut fcfg = fuser::Config::default();
    fcfg.mount_options = vec![
        fuser::MountOption::FSName("tandem-sim".into()),
        fuser::MountOption::Subtype("dahdi".into()),
        fuser::MountOption::DefaultPermissions,
    ];
    fcfg.acl = fuser::SessionACL::All;
    fcfg.n_threads = Some(2);
    fcfg.clone_fd = true;
    let session = fuser::spawn_mount(DahdiFs::new(state.clone()), &args.mount, &fcfg)
        .map_err(|e| format!("cannot mount FUSE at {}: {e} (are you root, and is /dev/fuse there?)", args.mount))?;

    let after = hw_sim::control::serve(&args.control, state.clone(), &externals)
        .map_err(|e| format!("control socket {}: {e}", args.control))?;
    tracing::info!(spans = nspans, channels = nchans, mount = %args.mount, control = %args.control, "tandem-sim running");

    let clock = {
        let (state, stop) = (state.clone(), stop.clone());
        std::thread::Builder::new()
            .name("clock".into())
            .spawn(move || hw_sim::clock::run(state, stop, after))
            .map_err(|e| e.to_string())?
    };
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!("stopping: unmounting {}", args.mount);
    let _ = clock.join();
    // Answer anything still held so the kernel can finish those requests.
    state.lock().expire(std::time::Instant::now() + Duration::from_secs(3600));
    session.umount_and_join().map_err(|e| format!("unmount {}: {e}", args.mount))?;
    let _ = std::fs::remove_file(&args.control);
    Ok(())
}
