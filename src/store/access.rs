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

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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
        // SAFETY: geteuid and getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Worker {
            uid,
            gid,
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
        let c = CString::new(name).map_err(|_| format!("no user {name:?}"))?;
        lookup(|pw, buf, out| {
            // SAFETY: valid pointers to a passwd, a buffer of buf.len() bytes, and a result.
            unsafe { libc::getpwnam_r(c.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), out) }
        })
        .map(|(uid, gid, _)| Worker {
            uid,
            gid,
            name: Some(name.to_owned()),
        })
        .ok_or_else(|| format!("no user {name:?}"))
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
    fn groups(&self) -> Vec<libc::gid_t> {
        let Some(name) = self.name.as_deref().and_then(|n| CString::new(n).ok()) else {
            return vec![self.gid];
        };
        let mut n: libc::c_int = 64;
        loop {
            let mut groups = vec![0 as libc::gid_t; n as usize];
            let mut count = n;
            // SAFETY: a NUL-terminated name and a buffer of `count` gids.
            let rc = unsafe {
                libc::getgrouplist(name.as_ptr(), self.gid, groups.as_mut_ptr(), &mut count)
            };
            if rc >= 0 {
                groups.truncate(count.max(0) as usize);
                return groups;
            }
            if n >= 65536 {
                return vec![self.gid];
            }
            n = count.max(n * 2);
        }
    }
}

/// Runs `f` (a `get*_r` call) with a growing buffer; the (uid, gid, name) found.
fn lookup(
    f: impl Fn(&mut libc::passwd, &mut Vec<libc::c_char>, &mut *mut libc::passwd) -> libc::c_int,
) -> Option<(u32, u32, String)> {
    let mut size = 1024;
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: an all-zero passwd is a valid value to be overwritten.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out = std::ptr::null_mut();
        match f(&mut pw, &mut buf, &mut out) {
            libc::ERANGE => size *= 4,
            0 if !out.is_null() => {
                // SAFETY: on success pw_name points to a NUL-terminated string in buf.
                let name = unsafe { CStr::from_ptr(pw.pw_name) };
                return Some((pw.pw_uid, pw.pw_gid, name.to_string_lossy().into_owned()));
            }
            _ => return None,
        }
    }
    None
}

fn user_name(uid: u32) -> Option<String> {
    lookup(|pw, buf, out| {
        // SAFETY: valid pointers to a passwd, a buffer of buf.len() bytes, and a result.
        unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), out) }
    })
    .map(|(_, _, name)| name)
}

fn group_name(gid: u32) -> Option<String> {
    let mut size = 1024;
    while size <= 1 << 20 {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: an all-zero group is a valid value to be overwritten.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut out = std::ptr::null_mut();
        // SAFETY: valid pointers to a group, a buffer of buf.len() bytes, and a result.
        match unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr(), buf.len(), &mut out) } {
            libc::ERANGE => size *= 4,
            0 if !out.is_null() => {
                // SAFETY: on success gr_name points to a NUL-terminated string in buf.
                let name = unsafe { CStr::from_ptr(gr.gr_name) };
                return Some(name.to_string_lossy().into_owned());
            }
            _ => return None,
        }
    }
    None
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

/// Everything the steps need, made before any fork: the steps themselves allocate nothing.
struct Prepared {
    dir: CString,
    /// Every proper ancestor of `dir`, from `/` down.
    ancestors: Vec<CString>,
    probe: CString,
    renamed: CString,
    table: CString,
    markers: CString,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    /// Take the worker's ids first (in a child).
    switch: bool,
}

fn c_path(p: &Path) -> CString {
    // Paths from configuration and the filesystem hold no NUL (checked by the caller).
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn fail(step: Step, index: usize, errno: i32) -> Failure {
    Failure {
        step,
        index: index as u32,
        errno,
        extra: 0,
    }
}

/// The steps, with system calls only (async-signal-safe: they may run in a forked child).
fn steps(p: &Prepared) -> Result<(), Failure> {
    // SAFETY (all calls below): NUL-terminated paths prepared by the caller, stack buffers.
    unsafe {
        if p.switch
            && (libc::setgroups(p.groups.len(), p.groups.as_ptr()) != 0
                || libc::setgid(p.gid) != 0
                || libc::setuid(p.uid) != 0)
        {
            return Err(fail(Step::Become, 0, errno()));
        }
        let mut st: libc::stat = std::mem::zeroed();
        for (i, a) in p.ancestors.iter().enumerate() {
            if libc::stat(a.as_ptr(), &mut st) == 0 {
                if libc::faccessat(libc::AT_FDCWD, a.as_ptr(), libc::X_OK, libc::AT_EACCESS) != 0 {
                    return Err(fail(Step::Enter, i, errno()));
                }
                continue;
            }
            let e = errno();
            if e != libc::ENOENT {
                return Err(fail(Step::Enter, i, e));
            }
            if libc::mkdir(a.as_ptr(), 0o755) != 0 && errno() != libc::EEXIST {
                return Err(fail(Step::MakeParent, i, errno()));
            }
        }
        if libc::mkdir(p.dir.as_ptr(), 0o700) != 0 && errno() != libc::EEXIST {
            return Err(fail(Step::MakeDir, 0, errno()));
        }
        if libc::lstat(p.dir.as_ptr(), &mut st) != 0 {
            return Err(fail(Step::MakeDir, 0, errno()));
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(fail(Step::NotDir, 0, 0));
        }
        if st.st_uid != p.uid {
            return Err(Failure {
                extra: st.st_uid,
                ..fail(Step::Owner, 0, 0)
            });
        }
        if st.st_mode & 0o077 != 0 {
            // Owner-only, as the store makes it; a read-only mount is told by the next step.
            libc::chmod(p.dir.as_ptr(), st.st_mode & 0o700);
        }
        let fd = libc::open(
            p.probe.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        );
        if fd < 0 {
            return Err(fail(Step::CreateFile, 0, errno()));
        }
        libc::close(fd);
        if libc::rename(p.probe.as_ptr(), p.renamed.as_ptr()) != 0 {
            let e = errno();
            libc::unlink(p.probe.as_ptr());
            return Err(fail(Step::RenameFile, 0, e));
        }
        if libc::unlink(p.renamed.as_ptr()) != 0 {
            return Err(fail(Step::RemoveFile, 0, errno()));
        }
        let fd = libc::open(
            p.table.as_ptr(),
            libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        );
        if fd >= 0 {
            libc::close(fd);
        } else if errno() != libc::ENOENT {
            return Err(fail(Step::Table, 0, errno()));
        }
        if libc::lstat(p.markers.as_ptr(), &mut st) == 0
            && libc::faccessat(
                libc::AT_FDCWD,
                p.markers.as_ptr(),
                libc::W_OK | libc::X_OK,
                libc::AT_EACCESS,
            ) != 0
        {
            return Err(fail(Step::Markers, 0, errno()));
        }
    }
    Ok(())
}

/// Runs the steps in a child that takes the worker's ids; the parent reads the failure, if
/// any, from a pipe.
fn in_child(p: &Prepared) -> Result<(), Failure> {
    let mut fds = [0; 2];
    // SAFETY: a two-int array for pipe2.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(fail(Step::Child, 0, errno()));
    }
    let (read_end, write_end) = (fds[0], fds[1]);
    // SAFETY: the child runs only `steps` (system calls on prepared data), write and _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match steps(p) {
            Ok(()) => 0,
            Err(f) => {
                let words: [u32; 4] = [f.step as u32, f.index, f.errno as u32, f.extra];
                // SAFETY: writes 16 bytes from a stack array to our pipe.
                unsafe { libc::write(write_end, words.as_ptr().cast(), 16) };
                1
            }
        };
        // SAFETY: leaves the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: closing our copy of the write end; the child holds its own.
    unsafe { libc::close(write_end) };
    if pid < 0 {
        let e = errno();
        // SAFETY: our descriptor.
        unsafe { libc::close(read_end) };
        return Err(fail(Step::Child, 0, e));
    }
    let mut words = [0u32; 4];
    let mut got = 0usize;
    while got < 16 {
        // SAFETY: reads into the rest of a 16-byte stack array.
        let n = unsafe {
            libc::read(
                read_end,
                words.as_mut_ptr().cast::<u8>().add(got).cast(),
                16 - got,
            )
        };
        if n > 0 {
            got += n as usize;
        } else if n == 0 || errno() != libc::EINTR {
            break;
        }
    }
    // SAFETY: our descriptor.
    unsafe { libc::close(read_end) };
    let mut status = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    let exited_ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if got == 16 {
        let step = STEPS
            .iter()
            .copied()
            .find(|s| *s as u32 == words[0])
            .unwrap_or(Step::Child);
        return Err(Failure {
            step,
            index: words[1],
            errno: words[2] as i32,
            extra: words[3],
        });
    }
    if exited_ok {
        Ok(())
    } else {
        Err(fail(Step::Child, 0, 0))
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
    // SAFETY: geteuid and getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
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
        uid: worker.uid,
        gid: worker.gid,
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
