//! The root helper's check of a virtual(8) request (a Maildir or mbox request whose `user`
//! is a recipient address): the helper reads $virtual_mailbox_base, $virtual_mailbox_maps,
//! $virtual_uid_maps, $virtual_gid_maps and $virtual_minimum_uid from its own configuration
//! directory, resolves the address itself (`vmailbox`, the agent's own resolution) for every
//! request and accepts it only when its path, kind, uid and gid are exactly that result
//! (for every message of a batched request: they share one address, path and ids).
//!
//! The parsed main.cf and the opened tables are kept per helper process (the helper is
//! single-threaded) and replaced when main.cf's stamp (device, inode, size, mtime, ctime)
//! changes; the tables themselves reload a changed file (hash:, ...) or keep their database
//! connection (mysql:). A main.cf that cannot be examined, or tables that cannot be opened,
//! are never cached: each request tries again.
//!
//! The helper's own resolutions that accepted a request are remembered for `REMEMBER`
//! (at most `REMEMBERED` addresses, with the tables they came from): a request that matches
//! one exactly is accepted without asking the tables again (with mysql: tables, one query
//! less per delivery, on the path every virtual message takes). Anything else (no memory,
//! an older one, a request that differs from it) is resolved afresh, so a changed table
//! entry is seen at once when the agent asks for the new mailbox; the agent itself always
//! resolves afresh, so a user removed from the tables is not delivered to by a sound agent.
//!
//! Security role: part of the helper's trust decision; nothing from the unprivileged agent
//! is trusted but the address, and an address only yields the mailbox the administrator's
//! tables give it, as the uid/gid they give it (never 0, never below
//! $virtual_minimum_uid, always strictly under $virtual_mailbox_base without `..`).
//! Follows virtual(8). Logs nothing (the caller logs refusals).

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::refusal::Refusal;
use super::{Ctx, Op};
use crate::delivery::vmailbox::{Mailbox, Maps, Resolved, Store};

/// How long an accepting resolution is remembered.
const REMEMBER: Duration = Duration::from_secs(5);
/// Addresses remembered at most (the memory is emptied when full).
const REMEMBERED: usize = 1000;

/// What identifies a version of main.cf: device, inode, size, mtime and ctime (seconds and
/// nanoseconds).
type Stamp = (u64, u64, u64, i64, i64, i64, i64);

/// The tables opened from one version of main.cf in one configuration directory.
struct Cached {
    config_dir: PathBuf,
    stamp: Stamp,
    base: String,
    maps: Rc<Maps>,
    /// Accepting resolutions by address, with when they were made.
    accepted: HashMap<String, (Mailbox, Instant)>,
}

thread_local! {
    static CACHE: RefCell<Option<Cached>> = const { RefCell::new(None) };
}

fn stamp(config_dir: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(config_dir.join("main.cf")).ok()?;
    Some((
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
    ))
}

/// $virtual_mailbox_base and the tables, from the cache while main.cf is unchanged.
fn maps(ctx: &Ctx) -> Result<(String, Rc<Maps>), Refusal> {
    let now = stamp(&ctx.config_dir);
    let hit = CACHE.with(|c| {
        c.borrow().as_ref().and_then(|c| {
            let fresh = c.config_dir == ctx.config_dir && Some(c.stamp) == now;
            fresh.then(|| (c.base.clone(), c.maps.clone()))
        })
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let cfg = ctx.config();
    let maps = Rc::new(Maps::open(&cfg).map_err(|e| Refusal::Table(e.to_string()))?);
    let base = cfg.get("virtual_mailbox_base").trim().to_string();
    // Cached only when main.cf was examined and did not change while it was read.
    let cached = match now {
        Some(s) if stamp(&ctx.config_dir) == Some(s) => Some(Cached {
            config_dir: ctx.config_dir.clone(),
            stamp: s,
            base: base.clone(),
            maps: maps.clone(),
            accepted: HashMap::new(),
        }),
        _ => None,
    };
    CACHE.with(|c| *c.borrow_mut() = cached);
    Ok((base, maps))
}

/// The mailbox a request asks for.
fn requested(op: &Op, path: &Path) -> Mailbox {
    let (uid, gid) = op.ids();
    let store = match op {
        Op::Maildir { .. } => Store::Maildir,
        _ => Store::Mbox,
    };
    Mailbox {
        path: path.to_path_buf(),
        store,
        uid,
        gid,
    }
}

/// Whether a recent accepting resolution of `address` (from these tables) is `want`.
fn remembered(address: &str, maps: &Rc<Maps>, want: &Mailbox) -> bool {
    CACHE.with(|c| {
        c.borrow().as_ref().is_some_and(|c| {
            Rc::ptr_eq(&c.maps, maps)
                && c.accepted
                    .get(address)
                    .is_some_and(|(mb, at)| mb == want && at.elapsed() < REMEMBER)
        })
    })
}

fn remember(address: &str, maps: &Rc<Maps>, mb: Mailbox) {
    CACHE.with(|c| {
        if let Some(c) = c
            .borrow_mut()
            .as_mut()
            .filter(|c| Rc::ptr_eq(&c.maps, maps))
        {
            if c.accepted.len() >= REMEMBERED {
                c.accepted.clear();
            }
            c.accepted.insert(address.to_string(), (mb, Instant::now()));
        }
    })
}

/// Check a virtual request for `address` to `path` with `ids`.
pub(super) fn check(op: &Op, address: &str, path: &Path, ctx: &Ctx) -> Result<(), Refusal> {
    let (base, maps) = maps(ctx)?;
    let want = requested(op, path);
    let refused = || Refusal::NotTheVirtualMailbox {
        address: address.to_string(),
        path: path.to_path_buf(),
        uid: want.uid,
        gid: want.gid,
    };
    if !path.starts_with(base.as_str()) || want.uid == 0 || want.gid == 0 {
        return Err(refused());
    }
    if remembered(address, &maps, &want) {
        return Ok(());
    }
    let mb = match maps.resolve(address) {
        Resolved::Found(mb) => mb,
        Resolved::Unknown => return Err(Refusal::NoVirtualMailbox(address.to_string())),
        Resolved::Problem(p) => return Err(Refusal::Table(p.warning)),
    };
    if mb != want {
        return Err(refused());
    }
    remember(address, &maps, mb);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::lock::LockPolicy;

    fn maildir(dir: &str, user: &str, uid: u32) -> Op {
        Op::Maildir {
            dir: dir.into(),
            user: user.into(),
            uid,
            gid: 5001,
            limit: 0,
            host: "h".into(),
            contents: vec![Vec::new()],
        }
    }

    /// A helper context whose main.cf in `dir` has the base /srv/vmail, `maps` as
    /// virtual_mailbox_maps and the ids 5000/5001.
    fn ctx_with(dir: &Path, maps: &str) -> Ctx {
        std::fs::write(
            dir.join("main.cf"),
            format!(
                "virtual_mailbox_base = /srv/vmail\nvirtual_mailbox_maps = {}\n\
                 virtual_uid_maps = static:5000\nvirtual_gid_maps = static:5001\n",
                maps
            ),
        )
        .unwrap();
        Ctx {
            root: true,
            spool: "/var/mail".into(),
            config_dir: dir.to_path_buf(),
            kept: super::super::keep::KeptProcs::new(None),
        }
    }

    #[test]
    fn only_what_the_tables_say() {
        let dir = std::env::temp_dir().join(format!("postern-vcheck-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ctx = ctx_with(&dir, "inline:{ a@ex.test=ex.test/a/, b@ex.test=ex.test/b }");
        let ok = maildir("/srv/vmail/ex.test/a/", "a@ex.test", 5000);
        assert_eq!(super::super::verify::validate(&ok, &ctx), Ok(()));
        let p = |s: &str| Path::new(s).to_path_buf();
        // Another path, other ids, another kind or an unknown address: refused.
        let other = maildir("/srv/vmail/ex.test/b/", "a@ex.test", 5000);
        let refused = super::super::verify::validate(&other, &ctx).unwrap_err();
        assert_eq!(
            refused,
            Refusal::NotTheVirtualMailbox {
                address: "a@ex.test".into(),
                path: p("/srv/vmail/ex.test/b/"),
                uid: 5000,
                gid: 5001
            }
        );
        let root = maildir("/srv/vmail/ex.test/a/", "a@ex.test", 0);
        assert!(check(&root, "a@ex.test", &p("/srv/vmail/ex.test/a/"), &ctx).is_err());
        let mbox = Op::Mbox {
            path: "/srv/vmail/ex.test/a".into(),
            user: "a@ex.test".into(),
            uid: 5000,
            gid: 5001,
            limit: 0,
            locks: LockPolicy::default(),
            create: true,
            records: vec![Vec::new()],
        };
        assert!(super::super::verify::validate(&mbox, &ctx).is_err());
        let unknown = maildir("/srv/vmail/ex.test/a/", "z@ex.test", 5000);
        assert_eq!(
            super::super::verify::validate(&unknown, &ctx),
            Err(Refusal::NoVirtualMailbox("z@ex.test".into()))
        );
        let shadow = maildir("/etc/", "a@ex.test", 5000);
        assert!(super::super::verify::validate(&shadow, &ctx).is_err());
        // A changed main.cf is read again (the cached tables are not used).
        ctx_with(&dir, "inline:{ a@ex.test=ex.test/moved/ }");
        assert!(super::super::verify::validate(&ok, &ctx).is_err());
        let moved = maildir("/srv/vmail/ex.test/moved/", "a@ex.test", 5000);
        assert_eq!(super::super::verify::validate(&moved, &ctx), Ok(()));
        assert!(CACHE.with(|c| c.borrow().is_some()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An accepting resolution is remembered for the same request only: the entry removed
    /// from the table is still accepted for that mailbox a moment later, while a request
    /// for another mailbox is resolved afresh (and the table's new answer wins).
    #[test]
    fn remembers_an_accepting_resolution_for_that_request_only() {
        let dir = std::env::temp_dir().join(format!("postern-vmem-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let table = dir.join("vmailbox");
        std::fs::write(&table, "a@ex.test ex.test/a/\n").unwrap();
        let ctx = ctx_with(&dir, &format!("texthash:{}", table.display()));
        let a = maildir("/srv/vmail/ex.test/a/", "a@ex.test", 5000);
        assert_eq!(super::super::verify::validate(&a, &ctx), Ok(()));
        // The table now sends a@ elsewhere (another size, so the reload cannot miss it).
        std::fs::write(&table, "a@ex.test ex.test/moved-away/\n").unwrap();
        assert_eq!(super::super::verify::validate(&a, &ctx), Ok(()));
        let moved = maildir("/srv/vmail/ex.test/moved-away/", "a@ex.test", 5000);
        assert_eq!(super::super::verify::validate(&moved, &ctx), Ok(()));
        // Other ids than remembered: resolved afresh, and refused.
        let other_uid = maildir("/srv/vmail/ex.test/moved-away/", "a@ex.test", 5002);
        assert!(super::super::verify::validate(&other_uid, &ctx).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
