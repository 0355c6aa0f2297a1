//! udev integration for DAHDI cards: the rules (in `rules/`) and the hotplug
//! helper `tandem-hotplug`, which udev runs when a card or span appears or
//! goes away.
//!
//! * A card appears (`SUBSYSTEM=dahdi_devices`, `ACTION=add`): its spans are
//!   assigned span numbers and base channels from a stable hardware id or
//!   location, as dahdi-tools' `assigned-spans.conf` does, by writing
//!   `local:span:basechan` to the device's `assign_span` attribute. Without a
//!   matching assignment the driver is asked to auto-assign. With DAHDI's
//!   `auto_assign_spans` parameter set the spans already have numbers and
//!   nothing is written (as dahdi-tools' `dahdi_handle_device`).
//! * A span is assigned (`SUBSYSTEM=dahdi_spans`, `ACTION=add`, `SPAN_NUM`):
//!   its `[[dahdi.span]]` table from tandem.toml is applied ([`configure`])
//!   and a running tandem is told to bring it up.
//! * A span or card goes away (`ACTION=remove`): tandem is told to take the
//!   span down.
//!
//! The decision ([`plan`]) is a pure function of the udev environment, the
//! configuration and what sysfs shows, so it is tested without udev; the
//! effects ([`execute`]) are file writes and one JSON line to tandem's
//! control socket.

pub mod assign;
pub mod configure;
pub mod hotplug;

pub use assign::{Assignment, DeviceKey};
pub use hotplug::{Action, HotplugConfig, UdevEvent, execute, plan};
