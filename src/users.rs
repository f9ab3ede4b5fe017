//! Users and groups, by name or number, read from `/etc/passwd` and `/etc/group`
//! themselves, as musl's libc resolves them: no NSS.
//!
//! supervise is linked statically (docs/BENCHMARKS.md, "Memory"), and glibc's static
//! `getpwnam` would load the NSS modules of the glibc it was built with at run time.
//! Reading the two files is what NSS's `files` source does, so a host whose users are
//! in them (every container image, most servers) sees no difference. Users known only
//! to another source (LDAP, sssd, systemd's dynamic users) are not found: the error
//! says so and suggests a number, which needs no lookup for a group and, for a user,
//! an entry in `/etc/passwd` (its home, shell and primary group come from there).
//!
//! The parsers are pure ([`parse_user`], [`parse_group`]); the lookups read the files
//! once per call, bounded, and never follow a FIFO into a block.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Where users are.
pub const PASSWD: &str = "/etc/passwd";
/// Where groups are.
pub const GROUP: &str = "/etc/group";

/// The most either file may hold (a directory of a million users fits).
const MAX_FILE: u64 = 256 << 20;

/// A user, as a line of `/etc/passwd` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
    /// Its home directory.
    pub dir: PathBuf,
    /// Its login shell.
    pub shell: PathBuf,
}

/// A group, as a line of `/etc/group` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub gid: u32,
    /// The users listed as its members.
    pub members: Vec<String>,
}

/// `name:password:uid:gid:gecos:dir:shell`; `None` for a comment, a blank line, a
/// NIS `+`/`-` entry or anything malformed (NSS's files source skips those too).
pub fn parse_user(line: &str) -> Option<User> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 7 || f[0].is_empty() || f[0].starts_with(['#', '+', '-']) {
        return None;
    }
    Some(User {
        name: f[0].to_owned(),
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        dir: PathBuf::from(f[5]),
        shell: PathBuf::from(f[6]),
    })
}

/// `name:password:gid:member,member`; `None` as for [`parse_user`].
pub fn parse_group(line: &str) -> Option<Group> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() != 4 || f[0].is_empty() || f[0].starts_with(['#', '+', '-']) {
        return None;
    }
    Some(Group {
        name: f[0].to_owned(),
        gid: f[2].parse().ok()?,
        members: f[3]
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// The text of `path`: a regular file, at most [`MAX_FILE`] bytes.
fn read(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    file.take(MAX_FILE).read_to_string(&mut text)?;
    Ok(text)
}

/// Why a lookup found nothing, worded for a config error.
fn not_found(what: &str, name: &str, file: &str) -> String {
    format!(
        "{what} {name:?} is not in {file} (users and groups are read from /etc/passwd and \
         /etc/group only, not through NSS: for one known only to LDAP, sssd or systemd, \
         add it there{})",
        if what == "group" {
            " or give its number"
        } else {
            ""
        }
    )
}

/// The first user of `passwd`'s text that `pick` accepts.
fn find_user_in(text: &str, pick: impl Fn(&User) -> bool) -> Option<User> {
    text.lines().filter_map(parse_user).find(|u| pick(u))
}

/// The user numbered `name` when it is all digits, else (or when no user has that
/// number) the user named `name`.
pub fn user(name: &str) -> Result<User, String> {
    user_from(
        &read(Path::new(PASSWD)).map_err(|e| format!("cannot read {PASSWD}: {e}"))?,
        name,
    )
}

/// [`user`] over the text of a passwd file.
pub fn user_from(passwd: &str, name: &str) -> Result<User, String> {
    let by_number = name
        .parse::<u32>()
        .ok()
        .and_then(|uid| find_user_in(passwd, |u| u.uid == uid));
    by_number
        .or_else(|| find_user_in(passwd, |u| u.name == name))
        .ok_or_else(|| not_found("user", name, PASSWD))
}

/// The user numbered `uid`, if `/etc/passwd` has it.
pub fn user_by_uid(uid: u32) -> Option<User> {
    find_user_in(&read(Path::new(PASSWD)).ok()?, |u| u.uid == uid)
}

/// The group named `name`, or its number when `name` is all digits (which needs no
/// entry).
pub fn group(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let text = read(Path::new(GROUP)).map_err(|e| format!("cannot read {GROUP}: {e}"))?;
    group_from(&text, name)
}

/// [`group`]'s lookup by name over the text of a group file.
pub fn group_from(text: &str, name: &str) -> Result<u32, String> {
    text.lines()
        .filter_map(parse_group)
        .find(|g| g.name == name)
        .map(|g| g.gid)
        .ok_or_else(|| not_found("group", name, GROUP))
}

/// Whether `/etc/group` has a group numbered `gid`.
pub fn group_exists(gid: u32) -> bool {
    read(Path::new(GROUP)).is_ok_and(|t| t.lines().filter_map(parse_group).any(|g| g.gid == gid))
}

/// The groups `initgroups(user, gid)` would give: `gid` and every group that lists
/// the user as a member, sorted, each once.
pub fn groups_of(user: &str, gid: u32) -> Result<Vec<u32>, String> {
    let text = read(Path::new(GROUP)).map_err(|e| format!("cannot read {GROUP}: {e}"))?;
    Ok(groups_from(&text, user, gid))
}

/// [`groups_of`] over the text of a group file.
pub fn groups_from(text: &str, user: &str, gid: u32) -> Vec<u32> {
    let mut out: Vec<u32> = text
        .lines()
        .filter_map(parse_group)
        .filter(|g| g.members.iter().any(|m| m == user))
        .map(|g| g.gid)
        .chain(std::iter::once(gid))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

+nisuser::::::
bad line
1000:x:1001:1001::/home/digits:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
";

    const GROUP_TEXT: &str = "\
root:x:0:
daemon:x:1:
adm:x:4:syslog,www-data
www-data:x:33:
web:x:500: www-data , other
-nisgroup
";

    #[test]
    fn users_by_name_then_number() {
        let u = user_from(PASSWD_TEXT, "www-data").unwrap();
        assert_eq!(
            u,
            User {
                name: "www-data".into(),
                uid: 33,
                gid: 33,
                dir: "/var/www".into(),
                shell: "/usr/sbin/nologin".into(),
            }
        );
        assert_eq!(user_from(PASSWD_TEXT, "33").unwrap().name, "www-data");
        // A number no user has may still be a name.
        assert_eq!(user_from(PASSWD_TEXT, "1000").unwrap().uid, 1001);
        let e = user_from(PASSWD_TEXT, "nisuser").unwrap_err();
        assert!(
            e.starts_with("user \"nisuser\" is not in /etc/passwd"),
            "{e}"
        );
        assert!(e.contains("not through NSS"), "{e}");
        assert!(user_from(PASSWD_TEXT, "bad line").is_err());
    }

    #[test]
    fn groups_by_name_number_and_membership() {
        assert_eq!(group_from(GROUP_TEXT, "adm"), Ok(4));
        assert!(
            group_from(GROUP_TEXT, "nisgroup")
                .unwrap_err()
                .contains("or give its number")
        );
        assert_eq!(group("4242"), Ok(4242));
        assert_eq!(groups_from(GROUP_TEXT, "www-data", 33), vec![4, 33, 500]);
        assert_eq!(groups_from(GROUP_TEXT, "nobody", 65534), vec![65534]);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        for line in [
            "",
            "#root:x:0:0::/:/bin/sh",
            "x:x:notanumber:0::/:/bin/sh",
            ":x:0:0::/:/",
        ] {
            assert_eq!(parse_user(line), None, "{line}");
        }
        assert_eq!(parse_group("g:x:1"), None);
    }

    #[test]
    fn this_host_agrees_with_its_own_files() {
        // root is in every /etc/passwd this runs on.
        let root = user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(user_by_uid(0).map(|u| u.name), Some("root".into()));
        assert!(group_exists(0));
        assert!(groups_of("root", 0).unwrap().contains(&0));
    }
}
