//! The FUSE filesystem that presents the DAHDI device files.
//!
//! Layout (as under `/dev/dahdi`): `ctl`, `channel`, `pseudo`, `timer`, and
//! `chan/SSS/CCC` (span number / channel position, three digits each) for
//! the assigned spans. A `chan/SSS/CCC` inode stands for its path (span
//! number and position), which is resolved to a channel when it is opened,
//! so that a span assigned again under other numbers never leaves a stale
//! inode pointing at the wrong channel. Files
//! are regular files opened with direct I/O and no seeking, so every read,
//! write, ioctl and poll reaches the model.
//!
//! FUSE handlers never block. A request that DAHDI would sleep on (a read
//! with no data, a full write queue, IOMUX, SYNC, a blocking WINK or FLASH) is
//! held with its reply and retried whenever the clock marks its handle
//! ready. FUSE cannot interrupt a held request, so each one carries a time
//! limit after which it is answered with EINTR, as if a signal had arrived.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, IoctlFlags, LockOwner, OpenFlags, PollEvents, PollFlags, PollNotifier, ReplyAttr,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyPoll, ReplyWrite, Request, WriteFlags,
};
use parking_lot::Mutex;

use crate::model::{Dahdi, Io, Node};

const INO_ROOT: u64 = 1;
const INO_CTL: u64 = 2;
const INO_CHANNEL: u64 = 3;
const INO_PSEUDO: u64 = 4;
const INO_TIMER: u64 = 5;
const INO_CHANDIR: u64 = 6;
const INO_SPANDIR_BASE: u64 = 1_000;
/// `chan/SSS/CCC` is INO_CHAN_BASE + SSS * CHAN_INO_STRIDE + CCC.
const INO_CHAN_BASE: u64 = 100_000;
const CHAN_INO_STRIDE: u64 = 1_000;

/// The (span number, position) a `chan/SSS/CCC` inode stands for.
fn chan_ino_parts(ino: u64) -> (u32, u32) {
    let rel = ino - INO_CHAN_BASE;
    ((rel / CHAN_INO_STRIDE) as u32, (rel % CHAN_INO_STRIDE) as u32)
}
const TTL: Duration = Duration::from_secs(1);

/// A request held until its handle is ready.
enum Pending {
    Read {
        size: u32,
        reply: ReplyData,
    },
    Write {
        data: Vec<u8>,
        reply: ReplyWrite,
    },
    Ioctl {
        cmd: u32,
        data: Vec<u8>,
        reply: ReplyIoctl,
    },
    /// A blocking WINK/FLASH waiting for the transmit state to settle.
    Hook {
        wait: i32,
        reply: ReplyIoctl,
    },
}

struct Held {
    deadline: Instant,
    op: Pending,
}

/// Everything behind the one lock: the model and the held requests.
pub struct State {
    pub dahdi: Dahdi,
    held: HashMap<u64, VecDeque<Held>>,
    /// Registered pollers: the kernel's notifier and the events it asked for.
    polls: HashMap<u64, (PollNotifier, PollEvents)>,
    pub hold_limit: Duration,
    /// The simulated SMDI link, if `[sim] smdi` is set.
    pub smdi: Option<std::sync::Arc<crate::smdi::SmdiLink>>,
    /// When each tick became visible (the clock thread records it).
    pub tick_times: crate::clock::TickTimes,
}

impl State {
    pub fn new(dahdi: Dahdi, hold_limit: Duration) -> State {
        State { dahdi, held: HashMap::new(), polls: HashMap::new(), hold_limit, smdi: None, tick_times: Default::default() }
    }

    /// Retry the held requests of handles that may be ready, and wake pollers.
    pub fn service(&mut self) {
        let dirty = self.dahdi.take_dirty();
        for fh in dirty {
            // Wake a poller only when an event it asked for is ready now. Other
            // changes (the caller's own read or write, a transmit buffer
            // drained) would only cost the kernel another FUSE_POLL round trip.
            if let Some((_, want)) = self.polls.get(&fh) {
                if ready_events(&self.dahdi, fh).map_or(true, |ev| ev.intersects(*want)) {
                    if let Some((p, _)) = self.polls.remove(&fh) {
                        let _ = p.notify();
                    }
                }
            }
            let Some(mut q) = self.held.remove(&fh) else { continue };
            let mut keep = VecDeque::new();
            while let Some(h) = q.pop_front() {
                if let Some(h) = self.retry(fh, h) {
                    keep.push_back(h);
                }
            }
            if !keep.is_empty() {
                self.held.insert(fh, keep);
            }
            // Completing requests may have changed readiness again (e.g. a read freed a buffer).
        }
    }

    /// Answer held requests whose time limit has passed with EINTR.
    pub fn expire(&mut self, now: Instant) {
        let mut empty = Vec::new();
        for (fh, q) in self.held.iter_mut() {
            let mut keep = VecDeque::new();
            while let Some(h) = q.pop_front() {
                if h.deadline <= now {
                    match h.op {
                        Pending::Read { reply, .. } => reply.error(Errno::EINTR),
                        Pending::Write { reply, .. } => reply.error(Errno::EINTR),
                        Pending::Ioctl { reply, .. } | Pending::Hook { reply, .. } => reply.error(Errno::EINTR),
                    }
                } else {
                    keep.push_back(h);
                }
            }
            if keep.is_empty() {
                empty.push(*fh);
            } else {
                *q = keep;
            }
        }
        for fh in empty {
            self.held.remove(&fh);
        }
    }

    fn retry(&mut self, fh: u64, h: Held) -> Option<Held> {
        match h.op {
            Pending::Read { size, reply } => match self.dahdi.read(fh, size) {
                Io::Done(d) => reply.data(&d),
                Io::Err(e) => reply.error(Errno::from_i32(e)),
                Io::Block => return Some(Held { deadline: h.deadline, op: Pending::Read { size, reply } }),
            },
            Pending::Write { data, reply } => match self.dahdi.write(fh, &data) {
                Io::Done(n) => reply.written(n),
                Io::Err(e) => reply.error(Errno::from_i32(e)),
                Io::Block => return Some(Held { deadline: h.deadline, op: Pending::Write { data, reply } }),
            },
            Pending::Ioctl { cmd, data, reply } => match self.dahdi.ioctl(fh, cmd, &data) {
                Io::Done((r, d)) => reply.ioctl(r, &d),
                Io::Err(e) => reply.error(Errno::from_i32(e)),
                Io::Block => return Some(Held { deadline: h.deadline, op: Pending::Ioctl { cmd, data, reply } }),
            },
            Pending::Hook { wait, reply } => {
                if self.dahdi.handle_gone(fh) {
                    reply.error(Errno::ENODEV);
                    return None;
                }
                let settled = match self.dahdi.handle_chan(fh).and_then(|c| self.dahdi.chan(c)) {
                    None => true,
                    Some(c) if c.removed => {
                        reply.error(Errno::ENODEV);
                        return None;
                    }
                    Some(c) => crate::model::ioctl::hook_settled(c, wait),
                };
                if settled {
                    reply.ioctl(0, &[]);
                } else {
                    return Some(Held { deadline: h.deadline, op: Pending::Hook { wait, reply } });
                }
            }
        }
        None
    }

    fn hold(&mut self, fh: u64, op: Pending) {
        let deadline = Instant::now() + self.hold_limit;
        self.held.entry(fh).or_default().push_back(Held { deadline, op });
    }

    /// Drop every held request of a handle being released.
    fn drop_handle(&mut self, fh: u64) {
        if let Some(q) = self.held.remove(&fh) {
            for h in q {
                match h.op {
                    Pending::Read { reply, .. } => reply.error(Errno::EBADF),
                    Pending::Write { reply, .. } => reply.error(Errno::EBADF),
                    Pending::Ioctl { reply, .. } | Pending::Hook { reply, .. } => reply.error(Errno::EBADF),
                }
            }
        }
        self.polls.remove(&fh);
    }
}

/// The filesystem object handed to fuser.
pub struct DahdiFs {
    pub state: Arc<Mutex<State>>,
    started: SystemTime,
}

impl DahdiFs {
    pub fn new(state: Arc<Mutex<State>>) -> DahdiFs {
        DahdiFs { state, started: SystemTime::now() }
    }

    fn attr(&self, ino: u64, dir: bool) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: 0,
            blocks: 0,
            atime: self.started,
            mtime: self.started,
            ctime: self.started,
            crtime: self.started,
            kind: if dir { FileType::Directory } else { FileType::RegularFile },
            perm: if dir { 0o755 } else { 0o660 },
            nlink: if dir { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }

    /// Is `ino` a valid node? Returns whether it is a directory.
    fn node_kind(&self, ino: u64) -> Option<bool> {
        match ino {
            INO_ROOT | INO_CHANDIR => Some(true),
            INO_CTL | INO_CHANNEL | INO_PSEUDO | INO_TIMER => Some(false),
            i if (INO_SPANDIR_BASE..INO_CHAN_BASE).contains(&i) => {
                let st = self.state.lock();
                st.dahdi.span_index((i - INO_SPANDIR_BASE) as i32).map(|_| true)
            }
            i if i >= INO_CHAN_BASE => {
                let st = self.state.lock();
                let (spanno, pos) = chan_ino_parts(i);
                st.dahdi.chan_at(spanno, pos).and_then(|ch| st.dahdi.chan(ch)).filter(|c| !c.removed && c.span.is_some()).map(|_| false)
            }
            _ => None,
        }
    }
}

/// The poll(2) events a handle reports now.
fn ready_events(dahdi: &Dahdi, fh: u64) -> Result<PollEvents, i32> {
    let (r, w, e) = dahdi.poll(fh)?;
    let mut ev = PollEvents::empty();
    if r {
        ev |= PollEvents::POLLIN | PollEvents::POLLRDNORM;
    }
    if w {
        ev |= PollEvents::POLLOUT | PollEvents::POLLWRNORM;
    }
    if e {
        ev |= PollEvents::POLLPRI;
    }
    Ok(ev)
}

fn errno(e: i32) -> Errno {
    Errno::from_i32(e)
}

impl Filesystem for DahdiFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let name = name.to_string_lossy();
        let ino = match parent.0 {
            INO_ROOT => match name.as_ref() {
                "ctl" => Some(INO_CTL),
                "channel" => Some(INO_CHANNEL),
                "pseudo" => Some(INO_PSEUDO),
                "timer" => Some(INO_TIMER),
                "chan" => Some(INO_CHANDIR),
                _ => None,
            },
            INO_CHANDIR => name.parse::<u32>().ok().map(|s| INO_SPANDIR_BASE + u64::from(s)),
            p if (INO_SPANDIR_BASE..INO_CHAN_BASE).contains(&p) => {
                let spanno = (p - INO_SPANDIR_BASE) as i32;
                let st = self.state.lock();
                match (st.dahdi.span_index(spanno), name.parse::<u32>()) {
                    (Some(si), Ok(pos)) if pos >= 1 && pos <= st.dahdi.spans[si].nchans && u64::from(pos) < CHAN_INO_STRIDE => {
                        Some(INO_CHAN_BASE + spanno as u64 * CHAN_INO_STRIDE + u64::from(pos))
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        match ino.and_then(|i| self.node_kind(i).map(|d| (i, d))) {
            Some((i, dir)) => reply.entry(&TTL, &self.attr(i, dir), fuser::Generation(0)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.node_kind(ino.0) {
            Some(dir) => reply.attr(&TTL, &self.attr(ino.0, dir)),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let mut entries: Vec<(u64, FileType, String)> = vec![(ino.0, FileType::Directory, ".".into()), (INO_ROOT, FileType::Directory, "..".into())];
        {
            let st = self.state.lock();
            match ino.0 {
                INO_ROOT => {
                    entries.push((INO_CTL, FileType::RegularFile, "ctl".into()));
                    entries.push((INO_CHANNEL, FileType::RegularFile, "channel".into()));
                    entries.push((INO_PSEUDO, FileType::RegularFile, "pseudo".into()));
                    entries.push((INO_TIMER, FileType::RegularFile, "timer".into()));
                    entries.push((INO_CHANDIR, FileType::Directory, "chan".into()));
                }
                INO_CHANDIR => {
                    for si in st.dahdi.span_list() {
                        let s = &st.dahdi.spans[si];
                        entries.push((INO_SPANDIR_BASE + u64::from(s.spanno), FileType::Directory, format!("{:03}", s.spanno)));
                    }
                }
                p if (INO_SPANDIR_BASE..INO_CHAN_BASE).contains(&p) => {
                    let Some(si) = st.dahdi.span_index((p - INO_SPANDIR_BASE) as i32) else {
                        drop(st);
                        reply.error(Errno::ENOENT);
                        return;
                    };
                    let s = &st.dahdi.spans[si];
                    for pos in 1..=s.nchans {
                        let channo = s.first_chan + pos - 1;
                        if st.dahdi.chan(channo).is_some_and(|c| !c.removed) {
                            let ino = INO_CHAN_BASE + u64::from(s.spanno) * CHAN_INO_STRIDE + u64::from(pos);
                            entries.push((ino, FileType::RegularFile, format!("{pos:03}")));
                        }
                    }
                }
                _ => {
                    drop(st);
                    reply.error(Errno::ENOTDIR);
                    return;
                }
            }
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.state.lock();
        let node = match ino.0 {
            INO_CTL => Node::Ctl,
            INO_CHANNEL => Node::Channel,
            INO_PSEUDO => Node::Pseudo,
            INO_TIMER => Node::Timer,
            i if i >= INO_CHAN_BASE => {
                let (spanno, pos) = chan_ino_parts(i);
                match st.dahdi.chan_at(spanno, pos) {
                    Some(channo) => Node::Chan(channo),
                    None => {
                        // The span was unassigned since the lookup.
                        drop(st);
                        reply.error(Errno::ENXIO);
                        return;
                    }
                }
            }
            _ => {
                drop(st);
                reply.error(Errno::EISDIR);
                return;
            }
        };
        let nonblock = flags.0 & libc::O_NONBLOCK != 0;
        let r = st.dahdi.open(node, nonblock);
        drop(st);
        match r {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NONSEEKABLE | FopenFlags::FOPEN_STREAM),
            Err(e) => reply.error(errno(e)),
        }
    }

    fn release(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, _lock_owner: Option<LockOwner>, _flush: bool, reply: ReplyEmpty) {
        let mut st = self.state.lock();
        st.drop_handle(fh.0);
        st.dahdi.release(fh.0);
        drop(st);
        reply.ok();
    }

    fn getxattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, _size: u32, reply: fuser::ReplyXattr) {
        reply.error(Errno::from_i32(libc::ENODATA));
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: fuser::ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        match self.node_kind(ino.0) {
            Some(_) => reply.ok(),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        self.state.lock().dahdi.flushed(fh.0);
        reply.ok();
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let mut st = self.state.lock();
        let r = st.dahdi.read(fh.0, size);
        if let Io::Block = r {
            st.hold(fh.0, Pending::Read { size, reply });
            return;
        }
        // Reply after unlocking: the reply wakes the caller, who may run at
        // once and send its next request to the other worker thread.
        drop(st);
        match r {
            Io::Done(d) => reply.data(&d),
            Io::Err(e) => reply.error(errno(e)),
            Io::Block => unreachable!(),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut st = self.state.lock();
        let r = st.dahdi.write(fh.0, data);
        if let Io::Block = r {
            st.hold(fh.0, Pending::Write { data: data.to_vec(), reply });
            return;
        }
        drop(st);
        match r {
            Io::Done(n) => reply.written(n),
            Io::Err(e) => reply.error(errno(e)),
            Io::Block => unreachable!(),
        }
    }

    fn ioctl(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: IoctlFlags, cmd: u32, in_data: &[u8], out_size: u32, reply: ReplyIoctl) {
        let mut st = self.state.lock();
        match st.dahdi.ioctl(fh.0, cmd, in_data) {
            Io::Done((r, _)) if r == crate::model::ioctl::HOOK_WAIT_ONHOOK || r == crate::model::ioctl::HOOK_WAIT_OFFHOOK => {
                st.hold(fh.0, Pending::Hook { wait: r, reply });
            }
            Io::Done((r, d)) => {
                let n = d.len().min(out_size as usize);
                reply.ioctl(r, &d[..n]);
            }
            Io::Err(e) => reply.error(errno(e)),
            Io::Block => st.hold(fh.0, Pending::Ioctl { cmd, data: in_data.to_vec(), reply }),
        }
        // A request may have changed another handle's readiness (e.g. CHANCONFIG).
        st.service();
    }

    fn poll(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, ph: PollNotifier, events: PollEvents, _flags: PollFlags, reply: ReplyPoll) {
        let mut st = self.state.lock();
        let r = ready_events(&st.dahdi, fh.0);
        if r.is_ok() {
            // The kernel always wants errors and hang-ups; an empty set means "anything".
            let want = if events.is_empty() { PollEvents::all() } else { events | PollEvents::POLLERR | PollEvents::POLLHUP };
            st.polls.insert(fh.0, (ph, want));
        }
        drop(st);
        match r {
            Ok(ev) => reply.poll(ev),
            Err(e) => reply.error(errno(e)),
        }
    }
}
