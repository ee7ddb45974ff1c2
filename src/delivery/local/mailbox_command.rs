//! $mailbox_command and $mailbox_command_maps for local(8): when either gives a command for
//! the recipient's account, mail for the mailbox goes to that command (procmail, maildrop,
//! a script) instead of the mbox or Maildir. As Postfix: the table is searched by user
//! name and wins over $mailbox_command; the value is used as written (no `$name`
//! expansion by Postern; a shell expands `"$EXTENSION"` from the environment); a command
//! of plain words is executed directly, anything with shell metacharacters through
//! `/bin/sh -c` (`delivery::command`); the environment is `environ`'s; exit codes map
//! through sysexits (EX_TEMPFAIL defers, EX_NOUSER bounces, ...).
//!
//! Security role: the command runs with the recipient's uid and gid (for root,
//! $default_privs: never as root), in the home directory; the request names the user
//! (`Source::Mailbox`), and the root helper looks the command up itself and refuses any
//! other command or ids. A table lookup error defers (4.3.0 `table lookup failure`), never
//! falls through to the mailbox. Logs `warning: TYPE:NAME lookup error for "USER"` on a
//! table error; the delivery is logged by the caller (`delivered to command: CMD`).

use super::run_command::RunAs;
use super::{Local, Rcpt};
use crate::delivery::dsn_of;
use crate::delivery::request::Source;
use crate::delivery::targets::{mailbox_command, mailbox_command_account};
use crate::sys::User;

impl Local {
    /// Deliver to the mailbox command of `acct`, when one is configured: true when the
    /// recipient was handled (delivered, deferred or bounced) here.
    pub(super) fn deliver_mailbox_command(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        acct: &User,
    ) -> bool {
        let cmd = match mailbox_command(&self.cfg, &acct.name) {
            Ok(Some(c)) => c,
            Ok(None) => return false,
            Err(e) => {
                crate::log::lines::lookup_error("local", e.table(), &acct.name);
                r.outcome(addr, dsn_of("4.3.0"), "table lookup failure");
                return true;
            }
        };
        let runs_as = match mailbox_command_account(acct, self.cfg.get("default_privs")) {
            Ok(a) => a,
            Err(why) => {
                r.outcome(addr, dsn_of("4.3.0"), &why);
                return true;
            }
        };
        let who = RunAs {
            uid: runs_as.uid,
            gid: runs_as.gid,
            home: &acct.home,
            shell: &acct.shell,
            // Root's mail runs as $default_privs, which may not enter root's home.
            cwd: if runs_as.uid == acct.uid {
                &acct.home
            } else {
                "/"
            },
        };
        self.run_command(r, addr, &cmd, Source::Mailbox(acct.name.clone()), &who);
        true
    }
}
