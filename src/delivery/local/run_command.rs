//! One command delivery for local(8), shared by alias `|command` targets (`alias`) and
//! $mailbox_command (`mailbox_command`): the duplicate filter (a command runs once per
//! recipient and uid), the environment (`environ`), the input (an mbox `From ` line, then
//! Return-Path:, X-Original-To: and Delivered-To:, then the message), command_time_limit,
//! and the request to the helper or the in-process performer.
//!
//! Security role: the request carries the `request::Source` that justifies its ids, so that
//! the root helper can check them; the command text is never built from envelope data.
//! Logs nothing; the outcome is logged by the caller.

use std::path::PathBuf;

use super::environ::{EnvFacts, command_env};
use super::{Local, Rcpt, split_addr};
use crate::delivery::command::CommandJob;
use crate::delivery::mbox;
use crate::delivery::request::{Op, Source};

/// The account a command runs as.
pub(super) struct RunAs<'a> {
    pub uid: u32,
    pub gid: u32,
    pub home: &'a str,
    pub shell: &'a str,
    /// The working directory (`/` when it is missing).
    pub cwd: &'a str,
}

impl Local {
    /// command_time_limit (default 1000s).
    fn command_time_limit(&self) -> std::time::Duration {
        let d = self.cfg.time("command_time_limit");
        if d.is_zero() {
            std::time::Duration::from_secs(1000)
        } else {
            d
        }
    }

    /// Run `cmd` for `addr` as `who`.
    pub(super) fn run_command(
        &self,
        r: &mut Rcpt<'_>,
        addr: &str,
        cmd: &str,
        source: Source,
        who: &RunAs<'_>,
    ) {
        if !r.first_time(format!("command {} {}", who.uid, cmd)) {
            return;
        }
        let (local, domain) = split_addr(addr);
        let local = local.to_lowercase();
        let (user, extension) = self.rewrite.split(&local);
        let env = command_env(
            &self.cfg,
            &EnvFacts {
                home: who.home,
                shell: who.shell,
                user,
                sender: r.req.sender,
                recipient: addr,
                local: &local,
                domain,
                extension: extension.unwrap_or_default(),
                original: &r.orig_to,
                envid: r.req.envid.unwrap_or_default(),
            },
        );
        let mut input = mbox::from_line(r.req.sender, r.now);
        input.extend_from_slice(&mbox::delivery_headers(r.req.sender, &r.orig_to, addr));
        input.extend_from_slice(r.req.content);
        let job = CommandJob {
            command: cmd.to_string(),
            shell: self.cfg.get("local_command_shell").trim().to_string(),
            env,
            dir: PathBuf::from(who.cwd),
            limit: self.command_time_limit(),
            input,
        };
        let reply = self.perform(Op::Command {
            source,
            uid: who.uid,
            gid: who.gid,
            job,
        });
        r.reply(addr, reply);
    }
}
