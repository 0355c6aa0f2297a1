//! Discovery: which spans and channels exist, from the device directory and,
//! where present, sysfs (`/sys/bus/dahdi_spans`, `/sys/bus/dahdi_devices`).
//!
//! SPANSTAT gives each span and its channel count; GET_PARAMS by number
//! finds the channels and their span. Where DAHDI's sysfs is present it adds
//! the first channel number (`basechan`) and the device each span is on
//! (hardware id and location, used for stable span assignment).

use std::path::{Path, PathBuf};

use crate::channel::Params;
use crate::ctl::Ctl;
use crate::error::{Error, Result};
use crate::span::SpanStatus;

/// A span and its channels.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SpanInventory {
    pub status: SpanStatus,
    /// First channel number (from sysfs `basechan`, or the lowest found).
    pub basechan: Option<u32>,
    /// The device (card) the span is on, from sysfs.
    pub device: Option<DeviceInfo>,
    pub channels: Vec<Params>,
}

/// A DAHDI device (card) from `/sys/bus/dahdi_devices/devices/*`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub name: String,
    pub hardware_id: String,
    pub location: String,
    pub manufacturer: String,
    pub device_type: String,
}

/// Everything found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Inventory {
    pub version: String,
    pub spans: Vec<SpanInventory>,
}

/// Where to look.
#[derive(Clone, Debug)]
pub struct Discovery {
    pub device_dir: PathBuf,
    /// Root of sysfs (normally `/sys`); its `bus/dahdi_spans` is used when present.
    pub sysfs_root: PathBuf,
}

impl Default for Discovery {
    fn default() -> Self {
        Discovery { device_dir: PathBuf::from(crate::DEFAULT_DEVICE_DIR), sysfs_root: PathBuf::from("/sys") }
    }
}

fn read_attr(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(name)).ok().map(|s| s.trim().to_string())
}

impl Discovery {
    pub fn new(device_dir: impl Into<PathBuf>) -> Discovery {
        Discovery { device_dir: device_dir.into(), ..Default::default() }
    }

    /// Find every span and channel.
    pub fn scan(&self) -> Result<Inventory> {
        let ctl = Ctl::open(&self.device_dir)?;
        let version = ctl.version()?;
        let spans = ctl.spans()?;
        let total: u32 = spans.iter().map(|s| s.total_channels).sum();
        let mut found: Vec<Params> = Vec::new();
        // Channels are numbered from 1; allow gaps (unassigned spans) but stop
        // once every span's channels are found or the DAHDI maximum is reached.
        let mut chan = 1;
        let mut misses = 0;
        while (found.len() as u32) < total && chan <= dahdi_sys::DAHDI_MAX_CHANNELS && misses < 256 {
            match ctl.params(chan) {
                Ok(p) if p.span != 0 => {
                    found.push(p);
                    misses = 0;
                }
                Ok(_) => misses += 1,
                Err(Error::NoSuch { .. }) => misses += 1,
                Err(e) => return Err(e),
            }
            chan += 1;
        }
        let sys_spans = self.sysfs_root.join("bus/dahdi_spans/devices");
        let mut out = Vec::new();
        for status in spans {
            let channels: Vec<Params> = found.iter().filter(|p| p.span == status.span).cloned().collect();
            let sysdir = sys_spans.join(format!("span-{}", status.span));
            let basechan = read_attr(&sysdir, "basechan").and_then(|s| s.parse().ok()).or_else(|| channels.first().map(|c| c.chan));
            let device = std::fs::canonicalize(&sysdir).ok().and_then(|p| p.parent().map(Path::to_path_buf)).and_then(|dev| {
                let name = dev.file_name()?.to_string_lossy().into_owned();
                Some(DeviceInfo {
                    name,
                    hardware_id: read_attr(&dev, "hardware_id").unwrap_or_default(),
                    location: read_attr(&dev, "location").unwrap_or_default(),
                    manufacturer: read_attr(&dev, "manufacturer").unwrap_or_default(),
                    device_type: read_attr(&dev, "type").unwrap_or_default(),
                })
            });
            out.push(SpanInventory { status, basechan, device, channels });
        }
        Ok(Inventory { version, spans: out })
    }
}
