//! Span alarms: SPANSTAT, the channels' ALARM/NOALARM events and chan_alarms,
//! and the permanent red alarm of a span connected to nothing.

mod common;

use std::time::Duration;

use common::*;

const CONFIG: &str = r#"
[[card]]
model = "te420p"
[[card.span]]
type = "t1"
far_end = "cross"
peer = 2
[[card.span]]
type = "t1"
far_end = "cross"
peer = 1
[[card.span]]
type = "t1"
far_end = "none"
"#;

fn span_alarms(ctl: &std::fs::File, span: i32) -> u32 {
    spanstat(ctl, span).expect("SPANSTAT").alarms as u32
}

#[test]
fn span_with_nothing_connected_is_in_red_alarm_with_loss_of_signal() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    assert_eq!(span_alarms(&ctl, 3), d::DAHDI_ALARM_RED | d::DAHDI_ALARM_LOS);
    assert_eq!(span_alarms(&ctl, 1), d::DAHDI_ALARM_NONE, "a cross-connected span is clear");
    assert_eq!(span_alarms(&ctl, 2), d::DAHDI_ALARM_NONE);
    // Its channels carry the alarm too, and still open once configured.
    setup_t1(&ctl, 3, &[(49, d::DAHDI_SIG_EM, 0)]);
    assert_eq!(span_alarms(&ctl, 3), d::DAHDI_ALARM_RED | d::DAHDI_ALARM_LOS, "STARTUP does not clear a red alarm");
    let ch = sim.open_chan(3, 1);
    let p = get_params(&ch, 0).unwrap();
    assert_eq!(p.chan_alarms, d::DAHDI_ALARM_RED | d::DAHDI_ALARM_LOS);
    let mut c = sim.client();
    let st = call(&mut c, "status", json!({}));
    let s3 = st["spans"].as_array().unwrap().iter().find(|s| s["span"] == json!(3)).unwrap().clone();
    let alarms: Vec<&str> = s3["alarms"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(alarms.contains(&"red") && alarms.contains(&"los"), "status alarms {alarms:?}");
}

#[test]
fn span_alarm_raises_alarm_on_open_channels_and_clearing_gives_noalarm() {
    let sim = Sim::start(CONFIG);
    let ctl = sim.ctl();
    setup_t1(&ctl, 1, &[(1, d::DAHDI_SIG_EM, 0), (2, d::DAHDI_SIG_EM, 0)]);
    setup_t1(&ctl, 2, &[(25, d::DAHDI_SIG_EM, 0)]);
    let a1 = sim.open_chan(1, 1);
    let a2 = sim.open_chan(1, 2);
    let other = sim.open_chan(2, 1);
    std::thread::sleep(Duration::from_millis(50));
    for f in [&a1, &a2, &other] {
        drain_events(f);
    }
    let mut c = sim.client();

    call(&mut c, "span.alarm", json!({"span": 1, "alarms": ["red"]}));
    assert_eq!(span_alarms(&ctl, 1), d::DAHDI_ALARM_RED);
    for f in [&a1, &a2] {
        expect_event(f, d::DAHDI_EVENT_ALARM, Duration::from_millis(200));
        assert_eq!(get_params(f, 0).unwrap().chan_alarms, d::DAHDI_ALARM_RED);
    }
    expect_no_event(&a1, Duration::from_millis(50));
    // Channels of another span hear nothing (and their GET_PARAMS is clean).
    assert!(drain_events(&other).iter().all(|&e| e != d::DAHDI_EVENT_ALARM as i32));
    assert_eq!(get_params(&other, 0).unwrap().chan_alarms, 0);

    // More alarm bits while already in alarm: SPANSTAT shows them, but
    // dahdi_alarm_notify() only tells the channels when the span goes into
    // or out of alarm.
    call(&mut c, "span.alarm", json!({"span": 1, "alarms": ["red", "yellow"]}));
    assert_eq!(span_alarms(&ctl, 1), d::DAHDI_ALARM_RED | d::DAHDI_ALARM_YELLOW);
    expect_no_event(&a1, Duration::from_millis(100));
    expect_no_event(&a2, Duration::from_millis(1));

    // Clearing: NOALARM, chan_alarms back to 0.
    call(&mut c, "span.alarm", json!({"span": 1, "alarms": []}));
    assert_eq!(span_alarms(&ctl, 1), d::DAHDI_ALARM_NONE);
    for f in [&a1, &a2] {
        expect_event(f, d::DAHDI_EVENT_NOALARM, Duration::from_millis(200));
        assert_eq!(get_params(f, 0).unwrap().chan_alarms, 0);
    }
    expect_no_event(&a1, Duration::from_millis(50));

    // Clearing an already clear span changes nothing.
    call(&mut c, "span.alarm", json!({"span": 1, "alarms": []}));
    expect_no_event(&a1, Duration::from_millis(50));

    // Bad requests are refused.
    assert!(c.call("span.alarm", json!({"span": 9, "alarms": ["red"]})).is_err());
    assert!(c.call("span.alarm", json!({"span": 1, "alarms": ["purple"]})).is_err());
    assert_eq!(span_alarms(&ctl, 1), d::DAHDI_ALARM_NONE);
}
