//! Can the host's workers use the token directory? Checked at startup (and by
//! `ezauth check-config --user`), so that a directory the workers cannot write is refused with
//! a message naming the directory, the user and the fix, never found out as a 503 at the first
//! sign-in.
//!
//! The check is truthful rather than a reading of permission bits: it does, as the workers'
//! user, what the store will do — enter every parent, make the directory if it is missing (so
//! it is the workers' own, owner-only), create, rename and remove a file in it, and open the
//! shared files an earlier run may have left (`.generations`, `.used`). ACLs, read-only mounts,
//! supplementary groups and LSMs all answer as they will for the workers. When the caller is
//! root and the workers run as another user (nginx: master root, `user www-data;`), the steps
//! run in a forked child that first drops to that user's ids and groups, as nginx's workers do
//! (`initgroups`, `setgid`, `setuid`); the child only makes system calls on paths prepared
//! before the fork, so forking a threaded process is safe.

use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, renameat, AtFlags, OFlag, AT_FDCWD};
use nix::sys::stat::{fchmodat, lstat, stat, FchmodatFlags, Mode, SFlag};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{
    faccessat, fork, getegid, geteuid, getgrouplist, mkdir, pipe2, setgid, setgroups, setuid,
    unlink, write, AccessFlags, ForkResult, Gid, Group, Uid, User,
};

use super::generations;
use crate::crypto;

/// The user a host's workers run as.
#[derive(Clone, Debug)]
pub struct Worker {
    pub uid: u32,
    pub gid: u32,
    /// The user name, for messages and supplementary groups (`None`: no passwd entry).
    pub name: Option<String>,
}

impl Worker {
    /// The current process's effective user.
    pub fn current() -> Worker {
        let uid = geteuid().as_raw();
        Worker {
            uid,
            gid: getegid().as_raw(),
            name: user_name(uid),
        }
    }

    /// `uid` and `gid`, named `name` (looked up by uid when `None`).
    pub fn with_ids(uid: u32, gid: u32, name: Option<&str>) -> Worker {
        Worker {
            uid,
            gid,
            name: name.map(str::to_owned).or_else(|| user_name(uid)),
        }
    }

    /// The user called `name` (its primary group), as nginx's `user` directive resolves it.
    pub fn by_name(name: &str) -> Result<Worker, String> {
        // A name with a NUL is no user (`Ok(None)`), as is a failed lookup.
        let user = User::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("no user {name:?}"))?;
        Ok(Worker {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            name: Some(name.to_owned()),
        })
    }

    /// "www-data (uid 33, gid 33)".
    pub fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("{n} (uid {}, gid {})", self.uid, self.gid),
            None => format!("uid {} (gid {})", self.uid, self.gid),
        }
    }

    /// The owner argument of the suggested `install -d`.
    fn owner_spec(&self) -> String {
        match (&self.name, group_name(self.gid)) {
            (Some(u), Some(g)) => format!("{u} -g {g}"),
            (Some(u), None) => format!("{u} -g {}", self.gid),
            (None, _) => format!("{} -g {}", self.uid, self.gid),
        }
    }

    /// The supplementary groups the user's processes get (`initgroups`), primary group first.
    fn groups(&self) -> Vec<Gid> {
        let gid = Gid::from_raw(self.gid);
        self.name
            .as_deref()
            .and_then(|n| CString::new(n).ok())
            .and_then(|name| getgrouplist(&name, gid).ok())
            .unwrap_or_else(|| vec![gid])
    }
}

fn user_name(uid: u32) -> Option<String> {
    User::from_uid(Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
}

fn group_name(gid: u32) -> Option<String> {
    Group::from_gid(Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
}

/// The steps of the check, in order; a failure names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Step {
    /// Taking the worker's ids (setgroups, setgid, setuid).
    Become = 1,
    /// Entering an existing parent (`index` into `Prepared::ancestors`).
    Enter = 2,
    /// Making a missing parent.
    MakeParent = 3,
    /// Making the directory.
    MakeDir = 4,
    /// The path is not a directory (a file, a symbolic link).
    NotDir = 5,
    /// The directory belongs to someone else (`extra`: its owner).
    Owner = 6,
    CreateFile = 7,
    RenameFile = 8,
    RemoveFile = 9,
    /// `.generations` cannot be opened read-write.
    Table = 10,
    /// `.used` cannot be written.
    Markers = 11,
    /// The child died or said nothing.
    Child = 12,
}

/// A failed step: which, where, the errno and one more number (an owner's uid).
#[derive(Clone, Copy, Debug)]
struct Failure {
    step: Step,
    index: u32,
    errno: i32,
    extra: u32,
}

/// Everything the steps need, made before any fork: the steps themselves allocate nothing
/// (nix takes the `CStr` paths as they are, without copying them).
struct Prepared {
    dir: CString,
    /// Every proper ancestor of `dir`, from `/` down.
    ancestors: Vec<CString>,
    probe: CString,
    renamed: CString,
    table: CString,
    markers: CString,
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    /// Take the worker's ids first (in a child).
    switch: bool,
}

fn c_path(p: &Path) -> CString {
    // Paths from configuration and the filesystem hold no NUL (checked by the caller).
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

/// A failure at `step` with `errno` (`Errno::UnknownErrno`, 0: none).
fn fail(step: Step, index: usize, errno: Errno) -> Failure {
    Failure {
        step,
        index: index as u32,
        errno: errno as i32,
        extra: 0,
    }
}

/// The steps, with system calls only (async-signal-safe: they may run in a forked child).
fn steps(p: &Prepared) -> Result<(), Failure> {
    if p.switch {
        setgroups(&p.groups)
            .and_then(|()| setgid(p.gid))
            .and_then(|()| setuid(p.uid))
            .map_err(|e| fail(Step::Become, 0, e))?;
    }
    for (i, a) in p.ancestors.iter().enumerate() {
        match stat(a.as_c_str()) {
            Ok(_) => faccessat(
                AT_FDCWD,
                a.as_c_str(),
                AccessFlags::X_OK,
                AtFlags::AT_EACCESS,
            )
            .map_err(|e| fail(Step::Enter, i, e))?,
            Err(Errno::ENOENT) => match mkdir(a.as_c_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(fail(Step::MakeParent, i, e)),
            },
            Err(e) => return Err(fail(Step::Enter, i, e)),
        }
    }
    match mkdir(p.dir.as_c_str(), Mode::S_IRWXU) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(fail(Step::MakeDir, 0, e)),
    }
    let st = lstat(p.dir.as_c_str()).map_err(|e| fail(Step::MakeDir, 0, e))?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFDIR {
        return Err(fail(Step::NotDir, 0, Errno::UnknownErrno));
    }
    if st.st_uid != p.uid.as_raw() {
        return Err(Failure {
            extra: st.st_uid,
            ..fail(Step::Owner, 0, Errno::UnknownErrno)
        });
    }
    if st.st_mode & 0o077 != 0 {
        // Owner-only, as the store makes it; a read-only mount is told by the next step.
        let _ = fchmodat(
            AT_FDCWD,
            p.dir.as_c_str(),
            Mode::from_bits_truncate(st.st_mode & 0o700),
            FchmodatFlags::FollowSymlink,
        );
    }
    // The descriptor is closed when dropped.
    open(
        p.probe.as_c_str(),
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::S_IRUSR | Mode::S_IWUSR,
    )
    .map_err(|e| fail(Step::CreateFile, 0, e))?;
    if let Err(e) = renameat(AT_FDCWD, p.probe.as_c_str(), AT_FDCWD, p.renamed.as_c_str()) {
        let _ = unlink(p.probe.as_c_str());
        return Err(fail(Step::RenameFile, 0, e));
    }
    unlink(p.renamed.as_c_str()).map_err(|e| fail(Step::RemoveFile, 0, e))?;
    match open(
        p.table.as_c_str(),
        OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(_) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(fail(Step::Table, 0, e)),
    }
    if lstat(p.markers.as_c_str()).is_ok() {
        faccessat(
            AT_FDCWD,
            p.markers.as_c_str(),
            AccessFlags::W_OK | AccessFlags::X_OK,
            AtFlags::AT_EACCESS,
        )
        .map_err(|e| fail(Step::Markers, 0, e))?;
    }
    Ok(())
}

/// Runs the steps in a child that takes the worker's ids; the parent reads the failure, if
/// any, from a pipe.
fn in_child(p: &Prepared) -> Result<(), Failure> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail(Step::Child, 0, e))?;
    // SAFETY: the child runs only `steps` (system calls on data prepared before the fork, no
    // allocation), one write to the pipe and _exit.
    let child = match unsafe { fork() } {
        Err(e) => return Err(fail(Step::Child, 0, e)),
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => {
            let code = match steps(p) {
                Ok(()) => 0,
                Err(f) => {
                    let mut bytes = [0u8; 16];
                    let words = [f.step as u32, f.index, f.errno as u32, f.extra];
                    for (chunk, w) in bytes.chunks_exact_mut(4).zip(words) {
                        chunk.copy_from_slice(&w.to_ne_bytes());
                    }
                    let _ = write(&write_end, &bytes);
                    1
                }
            };
            // SAFETY: leaves the child without running the parent's exit handlers or
            // destructors (nix has no `_exit`).
            unsafe { libc::_exit(code) };
        }
    };
    // Our copy of the write end: once the child's is closed too, the read sees the end.
    drop(write_end);
    let mut bytes = [0u8; 16];
    let answered = std::fs::File::from(read_end).read_exact(&mut bytes).is_ok();
    let status = loop {
        match waitpid(child, None) {
            Err(Errno::EINTR) => continue,
            other => break other,
        }
    };
    let exited_ok = matches!(status, Ok(WaitStatus::Exited(_, 0)));
    if answered {
        let word = |i: usize| u32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
        let step = STEPS
            .iter()
            .copied()
            .find(|s| *s as u32 == word(0))
            .unwrap_or(Step::Child);
        return Err(Failure {
            step,
            index: word(1),
            errno: word(2) as i32,
            extra: word(3),
        });
    }
    if exited_ok {
        Ok(())
    } else {
        Err(fail(Step::Child, 0, Errno::UnknownErrno))
    }
}

const STEPS: [Step; 12] = [
    Step::Become,
    Step::Enter,
    Step::MakeParent,
    Step::MakeDir,
    Step::NotDir,
    Step::Owner,
    Step::CreateFile,
    Step::RenameFile,
    Step::RemoveFile,
    Step::Table,
    Step::Markers,
    Step::Child,
];

/// Checks that `worker` can use `dir` as the token store (making it, as that user, when
/// missing). The error names the directory, the user and the fix.
pub fn check_directory(dir: &Path, worker: &Worker) -> Result<(), String> {
    if dir.as_os_str().as_bytes().contains(&0) || !dir.is_absolute() {
        return Err(format!(
            "token store directory {}: must be an absolute path",
            dir.display()
        ));
    }
    let (euid, egid) = (geteuid().as_raw(), getegid().as_raw());
    let switch = worker.uid != euid || worker.gid != egid;
    if switch && euid != 0 {
        return Err(format!(
            "token store {}: cannot check it as {}: this process runs as uid {euid} and only \
             root can act as another user (run the check as root, or as that user)",
            dir.display(),
            worker.describe()
        ));
    }
    let mut ancestors: Vec<PathBuf> = dir.ancestors().skip(1).map(Path::to_owned).collect();
    ancestors.reverse();
    let tag = crypto::random_token(12);
    let p = Prepared {
        dir: c_path(dir),
        ancestors: ancestors.iter().map(|a| c_path(a)).collect(),
        probe: c_path(&dir.join(format!("{}check-{tag}", super::file::TEMP_PREFIX))),
        renamed: c_path(&dir.join(format!("{}check-{tag}-renamed", super::file::TEMP_PREFIX))),
        table: c_path(&dir.join(generations::FILE_NAME)),
        markers: c_path(&dir.join(super::file::USED_DIR)),
        uid: Uid::from_raw(worker.uid),
        gid: Gid::from_raw(worker.gid),
        groups: if switch { worker.groups() } else { Vec::new() },
        switch,
    };
    let result = if switch { in_child(&p) } else { steps(&p) };
    result.map_err(|f| explain(dir, &ancestors, worker, f))
}

/// The message for a failed step: what, for whom, and the fix.
fn explain(dir: &Path, ancestors: &[PathBuf], worker: &Worker, f: Failure) -> String {
    let who = worker.describe();
    let d = dir.display();
    let err = std::io::Error::from_raw_os_error(f.errno);
    let install = format!("install -d -o {} -m 700 {d}", worker.owner_spec());
    let at = |i: u32| {
        ancestors
            .get(i as usize)
            .map_or_else(|| "/".to_owned(), |a| a.display().to_string())
    };
    let described = |p: &str| {
        std::fs::metadata(p).map_or_else(
            |_| String::new(),
            |m| {
                use std::os::unix::fs::MetadataExt;
                format!(
                    " (mode {:04o}, owner {})",
                    m.mode() & 0o7777,
                    user_name(m.uid()).unwrap_or_else(|| m.uid().to_string())
                )
            },
        )
    };
    let head = format!("token store directory {d} is not usable by the workers' user {who}");
    match f.step {
        Step::Become => format!("{head}: cannot take that user's ids: {err}"),
        Step::Enter => {
            let a = at(f.index);
            format!(
                "{head}: it cannot enter {a}{}: {err}. Every directory above the token \
                 directory must be searchable by that user: put the token directory where it \
                 can reach it (e.g. install -d -o {} -m 700 /var/lib/ezauth/tokens), or let it \
                 enter {a}",
                described(&a),
                worker.owner_spec()
            )
        }
        Step::MakeParent | Step::MakeDir => {
            let what = if f.step == Step::MakeParent {
                at(f.index)
            } else {
                d.to_string()
            };
            format!(
                "{head}: it cannot create {what}: {err}. Create the directory for it: {install}"
            )
        }
        Step::NotDir => format!("{head}: {d} is not a directory. Fix: {install}"),
        Step::Owner => format!(
            "{head}: the directory belongs to {} (uid {}); the workers create their files \
             owner-only, so the directory must be theirs. Fix: chown -R {}:{} {d} (or {install})",
            user_name(f.extra).unwrap_or_else(|| f.extra.to_string()),
            f.extra,
            worker
                .name
                .clone()
                .unwrap_or_else(|| worker.uid.to_string()),
            group_name(worker.gid).unwrap_or_else(|| worker.gid.to_string()),
        ),
        Step::CreateFile | Step::RenameFile | Step::RemoveFile => {
            let what = match f.step {
                Step::CreateFile => "create",
                Step::RenameFile => "rename",
                _ => "remove",
            };
            format!(
                "{head}: it cannot {what} a file in it{}: {err}. Fix: {install} (or chmod u+rwx {d})",
                described(&d.to_string())
            )
        }
        Step::Table | Step::Markers => {
            let name = if f.step == Step::Table {
                generations::FILE_NAME
            } else {
                super::file::USED_DIR
            };
            format!(
                "{head}: it cannot write {d}/{name} (left by a process of another user?): \
                 {err}. Fix: chown -R {}:{} {d}",
                worker
                    .name
                    .clone()
                    .unwrap_or_else(|| worker.uid.to_string()),
                group_name(worker.gid).unwrap_or_else(|| worker.gid.to_string()),
            )
        }
        Step::Child if f.errno == 0 => {
            format!("{head}: the check's child process ended without an answer")
        }
        Step::Child => format!("{head}: the check could not run: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_found_by_name_and_by_id() {
        let root = Worker::by_name("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(Worker::with_ids(0, 0, None).name.as_deref(), Some("root"));
        assert!(Worker::by_name("no-such-user-ezauth").is_err());
        assert!(Worker::by_name("nul\0name").is_err());
        assert_eq!(
            Worker::with_ids(4_000_000, 4_000_000, None).describe(),
            "uid 4000000 (gid 4000000)"
        );
    }

    #[test]
    fn a_relative_directory_is_refused() {
        let e = check_directory(Path::new("tokens"), &Worker::current()).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn as_the_caller_the_directory_is_made_owner_only_and_the_probe_removed() {
        let parent = std::env::temp_dir().join(format!(
            "ezauth-access-{}-{}",
            std::process::id(),
            crypto::random_token(4)
        ));
        let dir = parent.join("a").join("tokens");
        check_directory(&dir, &Worker::current()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        // A directory others may enter is made owner-only again.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_directory(&dir, &Worker::current()).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A file in its place is not a directory.
        std::fs::remove_dir(&dir).unwrap();
        std::fs::write(&dir, "").unwrap();
        let e = check_directory(&dir, &Worker::current()).unwrap_err();
        assert!(e.contains("is not a directory"), "{e}");
        std::fs::remove_dir_all(&parent).unwrap();
    }
}
