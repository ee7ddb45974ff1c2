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
use crate::delivery::request::{Op, Source};
use crate::delivery::{dsn_of, mbox};

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

    /// $command_execution_directory expanded for this delivery (`$user`, `$home`,
    /// `$shell`, `$recipient`, `$extension`, `$domain`, `$local`, `$mailbox`,
    /// `$recipient_delimiter`; values filtered by $execution_directory_expansion_filter):
    /// Ok(None) when not set, Err after logging a syntax error.
    fn exec_directory(
        &self,
        addr: &str,
        local: &str,
        who: &RunAs<'_>,
    ) -> Result<Option<String>, ()> {
        let raw = self.cfg.raw("command_execution_directory");
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let (user, extension) = self.rewrite.split(local);
        let domain = split_addr(addr).1;
        let delim = extension.and_then(|_| local[user.len()..].chars().next());
        let filter = self.cfg.get("execution_directory_expansion_filter");
        let value = |name: &str| -> Option<String> {
            let v = match name {
                "user" => user.to_string(),
                "home" => who.home.to_string(),
                "shell" => who.shell.to_string(),
                "recipient" => addr.to_string(),
                "extension" => extension.unwrap_or_default().to_string(),
                "domain" => domain.to_string(),
                "local" | "mailbox" => local.to_string(),
                "recipient_delimiter" => delim.map(String::from).unwrap_or_default(),
                _ => String::new(),
            };
            Some(super::environ::censor(&v, filter))
        };
        match super::dotforward::expand(raw.trim(), &value) {
            Some(d) => Ok(Some(d)),
            None => {
                crate::log::warning(
                    "local",
                    format!(
                        "bad parameter value syntax for command_execution_directory: {}",
                        raw
                    ),
                );
                Err(())
            }
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
        let (dir, dir_required) = match self.exec_directory(addr, &local, who) {
            Ok(Some(d)) => (PathBuf::from(d), true),
            Ok(None) => (PathBuf::from(who.cwd), false),
            Err(()) => {
                return r.outcome(addr, dsn_of("4.3.5"), "mail system configuration error");
            }
        };
        let mut input = mbox::from_line(r.req.sender, r.now);
        input.extend_from_slice(&mbox::delivery_headers(r.req.sender, &r.orig_to, addr));
        input.extend_from_slice(r.req.content);
        let job = CommandJob {
            command: cmd.to_string(),
            argv: Vec::new(),
            shell: self.cfg.get("local_command_shell").trim().to_string(),
            env,
            dir,
            dir_required,
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
