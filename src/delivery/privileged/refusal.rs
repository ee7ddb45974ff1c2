//! Why the root helper refuses a delivery request (`verify`): one variant per check, with
//! the text the helper logs (`warning: refusing delivery request: REASON`) and puts in its
//! 4.3.0 deferral.
//!
//! Security role: none itself; the variants let tests assert which check refused a request.
//! Logs nothing.

use std::fmt;
use std::path::PathBuf;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A relative path, or one with `..`.
    BadPath(PathBuf),
    /// A mailbox or Maildir request for a user without an account.
    UnknownUser(String),
    /// A mailbox or Maildir request whose ids are not the account's (or uid 0 for anyone
    /// but root).
    IdsNotOfUser { uid: u32, gid: u32, user: String },
    /// A mailbox path neither in the spool directory under the user's name nor in the home.
    NotAMailbox { path: PathBuf, user: String },
    /// A file delivery as uid 0 or gid 0.
    RootFile,
    /// A command delivery as uid 0 or gid 0.
    RootCommand,
    /// A pipe(8) request that its master.cf entry does not entitle.
    Pipe(String),
    /// $alias_maps could not be opened or searched.
    Table(String),
    /// The named table is not one of $alias_maps.
    NotInAliasMaps(String),
    /// The table has no such alias.
    NoAlias { spec: String, key: String },
    /// The alias does not list the file or command.
    AliasDoesNotList { spec: String, key: String },
    /// The include file does not list the file or command.
    IncludeDoesNotList(PathBuf),
    /// The include file could not be opened or read.
    UnreadableInclude { path: PathBuf, error: String },
    /// Not a regular file, or larger than `MAX_INCLUDE`.
    NotAnIncludeFile(PathBuf),
    /// $default_privs names no account.
    UnknownDefaultPrivs(String),
    /// The source's owner has no account (`cannot find alias database owner`).
    UnknownOwner(String),
    /// The ids asked for are not those the source entitles.
    WrongIds {
        asked: (u32, u32),
        entitled: (u32, u32),
    },
    /// A system account's uid (below `MIN_UID`) that is not $default_privs'.
    UidBelowMinimum { uid: u32, minimum: u32 },
    /// A command request whose shell is not $local_command_shell.
    NotTheCommandShell,
    /// A command request with an environment variable local(8) does not set (named).
    Environment(String),
    /// A .forward file owned by neither the user nor root.
    NotTheUsersForward { path: PathBuf, user: String },
    /// A mailbox command that is not the one $mailbox_command_maps or $mailbox_command
    /// gives for the user (or none is configured, or the lookup failed).
    NotTheMailboxCommand(String),
    /// A virtual request for an address $virtual_mailbox_maps does not list.
    NoVirtualMailbox(String),
    /// A virtual request whose path, kind or ids are not what the helper's own lookup of
    /// the address gives.
    NotTheVirtualMailbox {
        address: String,
        path: PathBuf,
        uid: u32,
        gid: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadPath(p) => write!(f, "bad path {}", p.display()),
            Refusal::UnknownUser(u) => write!(f, "unknown user {}", u),
            Refusal::IdsNotOfUser { uid, gid, user } => {
                write!(f, "ids {}:{} do not belong to {}", uid, gid, user)
            }
            Refusal::NotAMailbox { path, user } => {
                write!(f, "{} is not a mailbox of {}", path.display(), user)
            }
            Refusal::RootFile => f.write_str("file delivery with root privileges"),
            Refusal::RootCommand => f.write_str("command delivery with root privileges"),
            Refusal::Pipe(why) => write!(f, "pipe request: {}", why),
            Refusal::Table(e) => f.write_str(e),
            Refusal::NotInAliasMaps(spec) => write!(f, "{} is not in alias_maps", spec),
            Refusal::NoAlias { spec, key } => write!(f, "{} has no alias {}", spec, key),
            Refusal::AliasDoesNotList { spec, key } => {
                write!(f, "alias {} in {} does not list the target", key, spec)
            }
            Refusal::IncludeDoesNotList(p) => write!(f, "{} does not list the target", p.display()),
            Refusal::UnreadableInclude { path, error } => {
                write!(f, "cannot read include file {}: {}", path.display(), error)
            }
            Refusal::NotAnIncludeFile(p) => {
                write!(f, "{} is not a plausible include file", p.display())
            }
            Refusal::UnknownDefaultPrivs(n) => write!(f, "unknown default_privs user: {}", n),
            Refusal::UnknownOwner(why) => f.write_str(why),
            Refusal::WrongIds { asked, entitled } => write!(
                f,
                "ids {}:{} are not {}:{} as the source entitles",
                asked.0, asked.1, entitled.0, entitled.1
            ),
            Refusal::UidBelowMinimum { uid, minimum } => {
                write!(f, "uid {} is below {}", uid, minimum)
            }
            Refusal::NotTheCommandShell => f.write_str("shell is not local_command_shell"),
            Refusal::Environment(name) => write!(f, "environment variable {} refused", name),
            Refusal::NotTheUsersForward { path, user } => {
                write!(f, "{} does not belong to {} or root", path.display(), user)
            }
            Refusal::NotTheMailboxCommand(u) => {
                write!(f, "not the mailbox command of {}", u)
            }
            Refusal::NoVirtualMailbox(a) => write!(f, "no virtual mailbox for {}", a),
            Refusal::NotTheVirtualMailbox {
                address,
                path,
                uid,
                gid,
            } => write!(
                f,
                "{} as {}:{} is not the virtual mailbox of {}",
                path.display(),
                uid,
                gid,
                address
            ),
        }
    }
}
