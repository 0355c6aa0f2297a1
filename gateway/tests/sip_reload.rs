//! A configuration reload on the SIP side (`SipSide::reconfigure`): trunks
//! added, removed and changed while calls are up. Sans-IO.

mod sip_common;

use std::time::Duration;

use sip_common::*;
use tandem_gateway::call::model::*;
use tandem_gateway::config::Config;
use tandem_sip::wire::HeaderAccess;

const OTHER: &str = "198.51.100.8:5060";

fn sip_of(toml: &str) -> tandem_gateway::config::SipConfig {
    Config::from_toml(toml, "reload.toml").unwrap_or_else(|e| panic!("{e:?}")).sip.expect("[sip]")
}

fn two_trunks() -> String {
    format!("{}\n[[sip.trunk]]\nname = \"other\"\nhost = \"198.51.100.8:5060\"\noptions_interval_s = 0\n", peer_config(""))
}

fn setup() -> Setup {
    Setup { called: "5551000".into(), complete: true, ..Setup::default() }
}

fn register(expires: u32) -> String {
    format!(
        "{BASE}\n[[sip.trunk]]\nname = \"prov\"\nkind = \"register\"\nhost = \"198.51.100.20\"\nusername = \"gw1\"\npassword = \"pw\"\nregister_expires_s = {expires}\nmax_calls = 5\n"
    )
}

#[test]
fn a_removed_trunk_takes_no_new_calls_while_its_call_in_progress_goes_on() {
    let mut h = H::new(&two_trunks());
    let outs = h.recv(PBX, &Msg::invite("c1").text());
    let (key, _) = incoming(&outs).expect("the pbx may call");
    let (leg, _) = h.accept(key);
    h.side.command(leg, LegCommand::Answer { connected: None }, h.now);
    let outs = h.drain();
    let ok = responses(&outs).into_iter().find(|r| r.status == 200).expect("200 OK");
    let tag = to_tag(&ok);
    assert!(h.recv(PBX, &Msg::in_dialog("ACK", "c1", &tag, 1, "z9hG4bK-ack1").text()).is_empty());

    let changes = h
        .side
        .reconfigure(&sip_of(&format!("{BASE}\n[[sip.trunk]]\nname = \"other\"\nhost = \"198.51.100.8:5060\"\noptions_interval_s = 0\n")), h.now)
        .unwrap();
    assert_eq!(changes.removed, vec!["pbx"]);
    let status = h.side.trunk_status();
    assert!(status.iter().any(|t| t.name == "pbx" && t.active_calls == 1), "a removed trunk shows while its call lasts: {status:?}");

    // A new INVITE from the removed trunk's address is refused; no call is offered.
    let outs = h.recv(PBX, &Msg::invite("c2").text());
    assert_eq!(statuses(&outs), vec![403]);
    assert!(incoming(&outs).is_none());
    // Nor can a call be placed on it.
    let out = h.outbound_leg();
    h.side.originate(out, "pbx", None, &setup(), h.now);
    assert_eq!(released(&h.drain())[0].cause, Cause::NETWORK_OUT_OF_ORDER);

    // The call in progress still clears normally, in its dialog.
    let outs = h.recv(PBX, &Msg::in_dialog("BYE", "c1", &tag, 2, "z9hG4bK-bye1").text());
    assert!(statuses(&outs).contains(&200), "BYE is answered: {:?}", sent(&outs));
    assert!(events(&outs).iter().any(|e| matches!(e, LegEvent::Released(_))));
    assert!(h.side.trunk_status().iter().all(|t| t.name != "pbx"), "gone once its last call ended");
}

#[test]
fn an_added_trunk_takes_calls_at_once_and_a_changed_acl_applies_to_the_next_invite() {
    let mut h = H::new(&peer_config(""));
    assert_eq!(statuses(&h.recv(OTHER, &Msg::invite("s1").text())), vec![403], "a stranger before the reload");

    let changes = h.side.reconfigure(&sip_of(&two_trunks()), h.now).unwrap();
    assert_eq!(changes.added, vec!["other"]);
    let outs = h.recv(OTHER, &Msg::invite("s2").text());
    assert!(incoming(&outs).is_some(), "the new trunk's host may call: {:?}", sent(&outs));
    let out = h.outbound_leg();
    h.side.originate(out, "other", None, &setup(), h.now);
    let outs = h.drain();
    let invite = requests(&outs).into_iter().find(|r| r.method.as_str() == "INVITE").expect("an INVITE to the new trunk");
    assert_eq!(invite.uri.host, "198.51.100.8");

    // accept_from narrowed on the pbx trunk: its own host may no longer call.
    let narrowed = format!(
        "{}\n[[sip.trunk]]\nname = \"other\"\nhost = \"198.51.100.8:5060\"\noptions_interval_s = 0\n",
        peer_config("accept_from = [\"198.51.100.99\"]")
    );
    let changes = h.side.reconfigure(&sip_of(&narrowed), h.now).unwrap();
    assert!(changes.added.is_empty() && changes.removed.is_empty(), "{changes:?}");
    assert_eq!(statuses(&h.recv(PBX, &Msg::invite("s3").text())), vec![403]);
}

#[test]
fn a_changed_limit_keeps_the_registration_but_a_changed_expiry_registers_again() {
    let mut h = H::new(&register(600));
    let outs = h.advance(ms(1));
    let reg = requests(&outs).into_iter().find(|r| r.method.as_str() == "REGISTER").expect("REGISTER");
    h.recv("198.51.100.20:5060", &reply(&reg, 200, Some("r"), &[("Expires", "600")], ""));
    assert_eq!(format!("{:?}", h.side.trunk_status()[0].state), "Registered");

    // max_calls only: nothing is sent, the binding stays.
    let changes = h.side.reconfigure(&sip_of(&register(600).replace("max_calls = 5", "max_calls = 9")), h.now).unwrap();
    assert!(changes.reregistered.is_empty(), "{changes:?}");
    assert!(requests(&h.drain()).is_empty());
    assert_eq!(format!("{:?}", h.side.trunk_status()[0].state), "Registered");

    // A new expiry: the old binding is removed and a new one asked for.
    let changes = h.side.reconfigure(&sip_of(&register(900)), h.now).unwrap();
    assert_eq!(changes.reregistered, vec!["prov"]);
    let outs = h.drain();
    let regs = requests(&outs).into_iter().filter(|r| r.method.as_str() == "REGISTER").collect::<Vec<_>>();
    let expires: Vec<String> = regs.iter().map(|r| r.header("Expires").unwrap_or_default().to_owned()).collect();
    assert_eq!(expires, vec!["0", "900"], "unregister, then register with the new expiry");
    let _ = h.advance(Duration::from_millis(10));
}
