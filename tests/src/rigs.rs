//! Set-ups the end-to-end files share: example configs rewritten for a lab,
//! the PRI↔SIP gateway config and rig (simulator, the carrier's switch and
//! `tandem run`), and small probes of a running daemon and simulator.
//!
//! Each test file keeps its own loopback addresses; these helpers take them
//! as arguments, so the files can still run side by side.

use std::time::Duration;

use serde_json::Value;

use crate::gateway::{Lab, Sipp, Tandem, start_pri, wait_until};
use crate::q931peer::Q931Peer;

/// The deadline the helpers wait for an outcome.
const T: Duration = Duration::from_secs(10);

/// A file of the repository as text (e.g. `examples/sim/basic.toml`);
/// panics naming the file if it cannot be read.
pub fn example(rel: &str) -> String {
    std::fs::read_to_string(crate::repo_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `examples/gateway/NAME` pointed at a lab (`@DEV@` for the device
/// directory, the CDR file and control socket in `@DIR@`), then each
/// `(from, to)` of `subs` replaced in turn; panics if the example has no
/// `from`.
pub fn example_config(name: &str, subs: &[(&str, &str)]) -> String {
    let mut text = example(&format!("examples/gateway/{name}"))
        .replace("/dev/dahdi", "@DEV@")
        .replace("/var/log/tandem/cdr.jsonl", "@DIR@/cdr.jsonl")
        .replace("/run/tandem/tandem.sock", "@DIR@/tandem.sock");
    for (from, to) in subs {
        assert!(text.contains(from), "{name} has no {from:?}");
        text = text.replace(from, to);
    }
    text
}

/// Start `tandem run` on `config` in `lab` and wait until it says it runs.
pub fn start_tandem(lab: &Lab, config: &str) -> Tandem {
    let tandem = Tandem::start(lab, config);
    tandem.expect_log("tandem running", T);
    tandem
}

/// One request on the daemon's control socket (`@DIR@/tandem.sock`), and
/// its JSON reply.
pub fn control(lab: &Lab, req: &str) -> Value {
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(lab.path("tandem.sock")).expect("control socket");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line).expect("reply");
    serde_json::from_str(&line).expect("JSON reply")
}

/// Every CAS channel of every interface, as `tandem status` lists them: `span:pos=state`.
pub fn cas_states(lab: &Lab) -> Vec<String> {
    let st = control(lab, r#"{"op": "status"}"#);
    st["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| i["cas_channels"].as_array().cloned().unwrap_or_default())
        .map(|c| format!("{}:{}={}", c["span"], c["pos"], c["state"].as_str().unwrap_or("?")))
        .collect()
}

/// The CDR lines written so far (waits up to 10 s for `n` of them).
pub fn cdrs(lab: &Lab, n: usize) -> Vec<Value> {
    crate::gateway::cdrs(lab, n, T)
}

/// The Q.850 cause of a peer's event; panics if it has none.
pub fn cause(ev: &Value) -> i64 {
    ev["cause"].as_i64().unwrap_or_else(|| panic!("no cause in {ev}"))
}

/// Nobody reads channel `ch`: DAHDI's receive buffers are full and its
/// receive overruns grow (a shell that reads its channel keeps them still).
pub fn unread(c: &mut hw_sim::client::Client, ch: u32) -> bool {
    let overruns = |c: &mut hw_sim::client::Client| c.chan_get(ch).ok().and_then(|v| v["counters"]["rx_overruns"].as_u64());
    let Some(a) = overruns(c) else { return false };
    std::thread::sleep(Duration::from_millis(300));
    overruns(c).is_some_and(|b| b > a)
}

/// The dominant frequency of what tandem sent on a B-channel over the last
/// 300 ms (None: no single tone, or below -50 dBm0).
pub fn tone_on(sim: &mut hw_sim::client::Client, chan: u64) -> Option<f64> {
    let a = sim.call("audio.analyze", serde_json::json!({"chan": chan, "ms": 300})).expect("audio.analyze");
    a["frequency_hz"].as_f64()
}

/// Wait (10 s) for a `<log>` line of a sipp scenario; panics with its logs.
pub fn sipp_logged(s: &Sipp, needle: &str) {
    assert!(wait_until(T, || s.log().contains(needle)), "sipp never logged {needle:?}: {}\n{}", s.log(), s.messages());
}

/// The simulator with one PRI span of `span_type` ("t1" or "e1") whose
/// D-channel is the lab's external socket (the carrier's switch).
pub fn pri_sim(span_type: &str) -> String {
    format!("[[card]]\nmodel = \"te120p\"\n[[card.span]]\ntype = \"{span_type}\"\nfar_end = \"external\"\n")
}

/// The PRI span of a [`PriSipConfig`]: its type, channels and Q.931 variant.
#[derive(Clone, Copy, Debug)]
pub struct PriSpan {
    /// "t1" or "e1".
    pub kind: &'static str,
    pub bchans: &'static str,
    pub dchan: &'static str,
    /// The `switch` of the `[[pri]]` (and of the carrier's q931-peer).
    pub switch: &'static str,
}

impl PriSpan {
    /// A T1 with 23 B-channels and the D-channel on 24, NI-2.
    pub const T1_NI2: PriSpan = PriSpan { kind: "t1", bchans: "1-23", dchan: "24", switch: "ni2" };
    /// An E1 with the D-channel on time slot 16, EuroISDN.
    pub const E1_EURO: PriSpan = PriSpan { kind: "e1", bchans: "1-15,17-31", dchan: "16", switch: "euroisdn-e1" };
}

/// A `tandem run` config for the PRI↔SIP tests: one PRI `pstn` (user side)
/// on span 1, SIP on the test's loopback address, trunks and routes given
/// as TOML. `@DEV@` and `@DIR@` are left for [`Tandem::start`].
#[derive(Clone, Debug)]
pub struct PriSipConfig {
    pub span: PriSpan,
    /// Span 1's `timing`.
    pub timing: u32,
    pub country_code: Option<String>,
    /// The PRI's Q.931 `trace`.
    pub trace: bool,
    /// Extra lines of `[general]`.
    pub general_extra: String,
    /// Whether the `pstn-out` group (hunting the PRI ascending) is there.
    pub outbound_group: bool,
    /// `[sip] listen`.
    pub listen: Vec<String>,
    pub rtp_ip: String,
    pub rtp_ports: String,
    /// Extra lines of `[sip]`.
    pub sip_extra: String,
    /// The `[[sip.trunk]]` sections.
    pub trunks: String,
    /// The `[[route]]` sections.
    pub routes: String,
}

impl PriSipConfig {
    /// T1 NI-2, timing 1, country code 1, no trace, the `pstn-out` group,
    /// SIP on `udp:<ip>:5060` with RTP on `ip` over `rtp_ports`; no trunks
    /// or routes yet.
    pub fn new(ip: &str, rtp_ports: &str) -> PriSipConfig {
        PriSipConfig {
            span: PriSpan::T1_NI2,
            timing: 1,
            country_code: Some("1".into()),
            trace: false,
            general_extra: String::new(),
            outbound_group: true,
            listen: vec![format!("udp:{ip}:5060")],
            rtp_ip: ip.into(),
            rtp_ports: rtp_ports.into(),
            sip_extra: String::new(),
            trunks: String::new(),
            routes: String::new(),
        }
    }

    /// The config as TOML text.
    pub fn render(&self) -> String {
        let s = &self.span;
        let mut pri = format!("[[pri]]\nname = \"pstn\"\nspans = [1]\nswitch = \"{}\"\nside = \"user\"\n", s.switch);
        if let Some(cc) = &self.country_code {
            pri.push_str(&format!("country_code = \"{cc}\"\n"));
        }
        if self.trace {
            pri.push_str("trace = true\n");
        }
        let group = if self.outbound_group { "[[group]]\nname = \"pstn-out\"\nmembers = [\"pstn\"]\nhunt = \"ascending\"\n" } else { "" };
        let listen = self.listen.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ");
        format!(
            "[general]\ndevice_dir = \"@DEV@\"\ncdr_file = \"@DIR@/cdr.jsonl\"\ndrain_timeout_s = 2\ncontrol_socket = \"@DIR@/tandem.sock\"\n{general}\n\
             [[dahdi.span]]\nspan = 1\ntype = \"{kind}\"\ntiming = {timing}\n\
             [[dahdi.span.group]]\nchannels = \"{bchans}\"\nrole = \"bchan\"\n\
             [[dahdi.span.group]]\nchannels = \"{dchan}\"\nrole = \"dchan\"\n\n\
             {pri}\n{group}\n\
             [sip]\nlisten = [{listen}]\nrtp_ip = \"{rtp_ip}\"\nrtp_ports = \"{rtp_ports}\"\nt1_ms = 100\n{sip_extra}\n\
             {trunks}\n{routes}",
            general = self.general_extra,
            kind = s.kind,
            timing = self.timing,
            bchans = s.bchans,
            dchan = s.dchan,
            rtp_ip = self.rtp_ip,
            rtp_ports = self.rtp_ports,
            sip_extra = self.sip_extra,
            trunks = self.trunks,
            routes = self.routes,
        )
    }
}

/// A `kind = "peer"` trunk `name` at `host`, admitting requests from
/// `accept_from` (TOML array items), with `extra` lines.
pub fn peer_trunk(name: &str, host: &str, accept_from: &str, extra: &str) -> String {
    format!("[[sip.trunk]]\nname = \"{name}\"\nkind = \"peer\"\nhost = \"{host}\"\naccept_from = [{accept_from}]\n{extra}\n")
}

/// Routes both ways between the PRI and trunk `trunk`: `pstn-to-TRUNK`
/// (any number, to `targets`, a TOML array) and `TRUNK-to-pstn` (any
/// number, national or `+`, to the `pstn-out` group).
pub fn routes_both_ways(trunk: &str, targets: &str) -> String {
    format!(
        "[[route]]\nname = \"pstn-to-{trunk}\"\nfrom = \"pstn\"\ncalled = [\"X.\"]\ntarget = {targets}\n\n\
         [[route]]\nname = \"{trunk}-to-pstn\"\nfrom = \"{trunk}\"\ncalled = [\"X.\", \"+X.\"]\ntarget = [{{ group = \"pstn-out\" }}]\n"
    )
}

/// Simulator, the carrier's switch (q931-peer, network side) and tandem on
/// a PRI, with the D-channel up on both ends.
pub struct PriRig {
    pub lab: Lab,
    pub switch: Q931Peer,
    pub tandem: Tandem,
}

impl PriRig {
    /// Start the switch (`--switch switch` plus `switch_args`) and tandem
    /// on `config` in `lab` (a lab the test may already have started
    /// things in).
    pub fn start_in(lab: Lab, config: &str, switch: &str, switch_args: &[&str]) -> PriRig {
        let (switch, tandem) = start_pri(&lab, config, switch, switch_args);
        PriRig { lab, switch, tandem }
    }

    /// The carrier places `call ARGS`; waits until it is connected and
    /// returns the `connected` event.
    pub fn call_connected(&mut self, args: &str) -> Value {
        self.switch.send_line(&format!("call {args}"));
        self.switch.wait_for("connected", T)
    }

    /// The carrier clears its call with cause 16; returns the `released` event.
    pub fn hang_up(&mut self) -> Value {
        self.switch.send_line("hangup 16");
        self.switch.wait_for("released", T)
    }
}
