//! Run a simulator: mount the filesystem (and optionally the sysfs
//! emulation), start the clock, the control socket and the uevent delivery.
//! `tandem-sim` uses this, and so can tests in other crates, which then talk
//! to the mount through real syscalls exactly as with the binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::config::SimConfig;
use crate::fs::{DahdiFs, State};

/// How long [`Sim::stop`] waits for the kernel to release files closed just
/// before it (their FUSE RELEASE comes after close(2) returns).
const RELEASE_WAIT: Duration = Duration::from_secs(1);
/// ...and gives up sooner when none has come for this long.
const RELEASE_STALL: Duration = Duration::from_millis(50);

/// Options beyond the configuration file.
#[derive(Clone, Debug, Default)]
pub struct SimOptions {
    /// Mount the sysfs emulation here (`--sysfs`).
    pub sysfs: Option<PathBuf>,
    /// Hotplug program; overrides `[sim] hotplug` (`--hotplug`).
    pub hotplug: Option<String>,
}

/// A running simulator. Dropping it stops the clock and unmounts.
pub struct Sim {
    pub state: Arc<Mutex<State>>,
    pub mount: PathBuf,
    pub control: PathBuf,
    /// Where the sysfs emulation is mounted, if it is.
    pub sysfs: Option<PathBuf>,
    stop: Arc<AtomicBool>,
    clock: Option<std::thread::JoinHandle<()>>,
    session: Option<fuser::BackgroundSession>,
    sysfs_session: Option<fuser::BackgroundSession>,
    udev: Option<crate::sysfs::Udev>,
}

impl Sim {
    /// Start from TOML text (`origin` names it in errors).
    pub fn start(toml: &str, origin: &str, mount: &Path, control: &Path) -> Result<Sim, String> {
        let cfg = SimConfig::parse(toml, origin).map_err(|e| e.to_string())?;
        Sim::start_config(&cfg, origin, mount, control)
    }

    pub fn start_config(cfg: &SimConfig, origin: &str, mount: &Path, control: &Path) -> Result<Sim, String> {
        Sim::start_with(cfg, origin, mount, control, &SimOptions::default())
    }

    /// Start with options: the sysfs emulation and the hotplug program.
    pub fn start_with(cfg: &SimConfig, origin: &str, mount: &Path, control: &Path, opts: &SimOptions) -> Result<Sim, String> {
        let (dahdi, externals) = cfg.build(origin).map_err(|e| e.to_string())?;
        let state = Arc::new(Mutex::new(State::new(dahdi, Duration::from_millis(cfg.sim.hold_limit_ms))));
        if let Some(link) = &cfg.sim.smdi {
            state.lock().smdi = Some(Arc::new(crate::smdi::SmdiLink::open(Path::new(link))?));
        }
        std::fs::create_dir_all(mount).map_err(|e| format!("{}: {e}", mount.display()))?;
        let mut fcfg = fuser::Config::default();
        fcfg.mount_options =
            vec![fuser::MountOption::FSName("tandem-sim".into()), fuser::MountOption::Subtype("dahdi".into()), fuser::MountOption::DefaultPermissions];
        fcfg.acl = fuser::SessionACL::All;
        let threads = cfg.sim.fuse_threads.clamp(1, 16);
        fcfg.n_threads = Some(threads);
        fcfg.clone_fd = threads > 1;
        let session = fuser::spawn_mount(DahdiFs::new(state.clone()), mount, &fcfg)
            .map_err(|e| format!("cannot mount FUSE at {}: {e} (are you root, and is /dev/fuse there?)", mount.display()))?;
        let sysfs_session = match &opts.sysfs {
            Some(dir) => Some(crate::sysfs::mount(state.clone(), dir)?),
            None => None,
        };
        let control_s = control.to_string_lossy().into_owned();
        let mut after = crate::control::serve(&control_s, state.clone(), &externals).map_err(|e| format!("control socket {}: {e}", control.display()))?;
        let hcfg = crate::sysfs::HotplugConfig {
            program: opts.hotplug.clone().or_else(|| cfg.sim.hotplug.clone()),
            env: cfg.sim.hotplug_env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            sysfs_root: opts.sysfs.as_ref().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())),
            device_dir: Some(std::path::absolute(mount).unwrap_or_else(|_| mount.to_path_buf())),
        };
        let (udev, hook) = crate::sysfs::Udev::start(hcfg).map_err(|e| format!("uevent thread: {e}"))?;
        after.push(hook);
        let stop = Arc::new(AtomicBool::new(false));
        let realtime = cfg.sim.realtime_clock;
        let (rt_tx, rt_rx) = std::sync::mpsc::channel();
        let clock = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::Builder::new()
                .name("clock".into())
                .spawn(move || {
                    let rt = if realtime { crate::clock::set_realtime() } else { Ok(()) };
                    let ok = rt.is_ok();
                    let _ = rt_tx.send(rt);
                    if ok {
                        crate::clock::run(state, stop, after);
                    }
                })
                .map_err(|e| e.to_string())?
        };
        if let Err(e) = rt_rx.recv().unwrap_or_else(|_| Err("clock thread ended at start".into())) {
            let _ = clock.join();
            let _ = std::fs::remove_file(control);
            return Err(e);
        }
        // Wait until the kernel shows the mount.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mount.join("ctl").exists() {
            if Instant::now() > deadline {
                return Err(format!("{}: mount did not appear", mount.display()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Sim {
            state,
            mount: mount.to_path_buf(),
            control: control.to_path_buf(),
            sysfs: opts.sysfs.clone(),
            stop,
            clock: Some(clock),
            session: Some(session),
            sysfs_session,
            udev: Some(udev),
        })
    }

    /// Ask the clock to stop (used by signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Stop the clock, answer held requests and unmount.
    pub fn stop(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(c) = self.clock.take() {
            let _ = c.join();
        }
        // The clock held the uevent queue's sending side: the delivery
        // thread ends after the program it is running (killed if need be).
        if let Some(mut u) = self.udev.take() {
            u.stop();
        }
        // Answer anything still held so the kernel can finish those requests.
        self.state.lock().expire(Instant::now() + Duration::from_secs(3600));
        // Close the SMDI pty and remove its symlink.
        let smdi = self.state.lock().smdi.take();
        drop(smdi);
        // The kernel sends FUSE RELEASE only after close(2) has returned: a
        // file its user closed just now may still count as open, and the
        // unmount would fail with EBUSY. Give such releases a moment, while
        // they keep coming (files a running program keeps open stay so).
        let give_up = Instant::now() + RELEASE_WAIT;
        let (mut open, mut since) = (usize::MAX, Instant::now());
        loop {
            let now = Instant::now();
            let n = self.state.lock().dahdi.handles.len();
            if n < open {
                (open, since) = (n, now);
            }
            if n == 0 || now >= give_up || now >= since + RELEASE_STALL {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let r = match self.session.take() {
            Some(s) => s.umount_and_join().map_err(|e| format!("unmount {}: {e}", self.mount.display())),
            None => Ok(()),
        };
        if r.is_err() {
            // Files still open: detach the mount so nothing is left behind.
            let _ = nix::mount::umount2(&self.mount, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Some(s) = self.sysfs_session.take()
            && s.umount_and_join().is_err()
            && let Some(dir) = &self.sysfs
        {
            // Still in use (e.g. bound elsewhere): detach it.
            let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_file(&self.control);
        r
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
