//! udev rules and the hotplug helper for DAHDI cards. Filled by issue 3.
