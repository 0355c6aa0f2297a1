//! `tandem-sim`: simulated DAHDI hardware over FUSE.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Parser;

use hw_sim::config::SimConfig;
use hw_sim::runner::{Sim, SimOptions};

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
    /// Also mount DAHDI's sysfs (bus/dahdi_devices, bus/dahdi_spans, devices/,
    /// module/dahdi/parameters) on this directory.
    #[arg(long)]
    sysfs: Option<String>,
    /// Run this program for every uevent, with udev's environment (overrides
    /// `[sim] hotplug`).
    #[arg(long)]
    hotplug: Option<String>,
    /// Run the 1 ms clock thread SCHED_FIFO (priority 50), so that it preempts
    /// ordinary threads as a card's interrupt does (as `[sim] realtime_clock = true`).
    #[arg(long)]
    realtime_clock: bool,
    /// Log filter (tracing syntax), e.g. "info" or "hw_sim=debug".
    #[arg(long, default_value = "info")]
    log: String,
}

const AFTER_HELP: &str = "\
Runs in the foreground until SIGTERM or SIGINT, then unmounts and exits 0.

DEVICE FILES (under --mount, as under /dev/dahdi)
  ctl, channel (bind with DAHDI_SPECIFY), pseudo, timer, chan/SSS/CCC
  (SSS = span number, CCC = channel position). Channels start unconfigured,
  as after module load: configure them with dahdi_cfg or DAHDI_CHANCONFIG.

CONFIG (--config, TOML)
  [sim]      hold_limit_ms = 1000        time limit for a held blocking request
             analog_law = \"mulaw\"        or \"alaw\"
             auto_assign_spans = true    false: spans wait for sysfs assign_span/auto_assign
             hotplug = \"/path/prog\"      run for every uevent, as udev would (or --hotplug)
             hotplug_env = { K = \"v\" }   extra environment for it
             fuse_threads = 2            FUSE worker threads (1 is fastest when pinned)
             line_echo = { delay_ms = 8, erl_db = 12, erle_db = 30, converge_ms = 250 }
                                         hybrid echo on every analog port (default: none);
                                         the host's echo canceller removes it when its taps
                                         exceed the delay in samples
             smdi = \"/path/link\"        an SMDI link: symlink to a pty slave for tandem;
                                         smdi.send writes the switch's side, smdi.get reads
                                         what tandem wrote
             realtime_clock = false      true: the 1 ms clock thread is SCHED_FIFO 50, as a
                                         card's interrupt preempts every process (or
                                         --realtime-clock); needs root or CAP_SYS_NICE
  [[card]]   model = \"tdm410p\"           analog: tdm410p (4), tdm800p (8), tdm2400p (24)
             ports = [\"fxs\", \"fxo\"]      fxs: a phone plugs in; fxo: a CO line plugs in
             hardware_id = \"ID\"          sysfs hardware_id (default SIM-<MODEL>-<card number>)
             location = \"...\"            sysfs location (default pci0000:00/0000:00:NN.0)
             line_echo = { ... }         this analog card's echo (replaces [sim] line_echo)
  [[card]]   model = \"te420p\"            digital: te120p (1 span), te220p (2), te420p (4)
  [[card.span]]
             type = \"t1\"                 t1 | e1 | j1
             far_end = \"cross\"           none (red alarm) | external | cross
             peer = 3                    span at the other end of a cross-connect
             dchan_socket = \"/path\"      external: D-channel socket (default <control>.span<N>)

CONTROL SOCKET (--control, line-delimited JSON)
  {\"id\": 1, \"op\": \"phone.hook\", \"chan\": 1, \"offhook\": true}
  -> {\"id\": 1, \"ok\": true, \"result\": {}}
  ops: ping status chan.get chan.remove span.alarm span.counters frames.get
       dchan.send phone.hook phone.flash phone.dial phone.get co.ring co.stop
       co.battery co.polarity co.disconnect co.dial_tone co.get trunk.bits
       trunk.get audio.play audio.onset audio.clear audio.analyze audio.save card.list
       card.plug card.unplug
  Full reference: docs/control-protocol.md.

SYSFS AND UDEV (--sysfs DIR, --hotplug PROG)
  DIR/bus/dahdi_devices/devices/<dev>, DIR/bus/dahdi_spans/devices/span-N,
  DIR/devices/pci0000:00/0000:00:NN.0/<dev>/{hardware_id,location,spantype,
  assign_span,unassign_span,auto_assign,...,span-N/{basechan,channels,...}}
  and DIR/module/dahdi/parameters/auto_assign_spans, as the kernel shows them
  (card NN = its number in the config, in hex). Writes act at once.
  Each uevent (card appears or goes: start, card.plug, card.unplug; span
  assigned or unassigned) runs PROG with ACTION, SUBSYSTEM (dahdi_devices or
  dahdi_spans), DEVPATH (relative to DIR), SEQNUM, DAHDI_DEVICE_HWID,
  DAHDI_DEVICE_LOCATION or SPAN_NUM, SPAN_NAME, DAHDI_TOOLS_ROOTDIR,
  DAHDI_INIT_DIR, plus TANDEM_SYSFS_ROOT=DIR, TANDEM_DEVICE_DIR=<mount> and
  hotplug_env, and nothing else (as udev does), one event at a time.

EXTERNAL D-CHANNEL
  A span with far_end = \"external\" exposes its D-channel as a Unix
  SOCK_SEQPACKET socket: one LAPD frame per packet (address, control,
  information; no flags, no FCS). Its B-channels' audio and ABCD bits are
  driven through the control socket (audio.*, trunk.*).";

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(&args.log)).with_writer(std::io::stderr).init();
    if let Err(e) = run(args) {
        eprintln!("tandem-sim: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let mut cfg = SimConfig::load(&args.config).map_err(|e| e.to_string())?;
    cfg.sim.realtime_clock |= args.realtime_clock;
    // Catch SIGTERM/SIGINT before anything is visible, so that a signal sent
    // as soon as the mount or the control socket appears still unmounts cleanly.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| format!("signal handler: {e}"))?;
    }
    let opts = SimOptions { sysfs: args.sysfs.as_ref().map(std::path::PathBuf::from), hotplug: args.hotplug.clone() };
    let sim = Sim::start_with(&cfg, &args.config, Path::new(&args.mount), Path::new(&args.control), &opts)?;
    {
        let st = sim.state.lock();
        tracing::info!(spans = st.dahdi.spans.len(), channels = st.dahdi.chans.len(), mount = %args.mount, control = %args.control, "tandem-sim running");
    }
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::info!("stopping: unmounting {}", args.mount);
    sim.stop()
}
