//! pipe(8): delivery to an external command named in master.cf, for every `unix` service
//! whose command is `pipe` (built in master::agents), e.g. Postfix's walkthrough entry
//! `maildrop unix - n n - - pipe flags=DRhu user=vmail argv=maildrop -d ${recipient}`.
//!
//! For each request: the entry's attributes (`attrs`: flags, user, directory, eol,
//! null_sender, size, argv) are checked; the `D` and `O` flags need
//! `SERVICE_destination_recipient_limit = 1` (else the mail defers, 4.3.5, with Postfix's
//! warning); a message over `size=` bounces (5.2.3 "message too large"); with `D` a
//! message that already has `Delivered-To: RECIPIENT` bounces (5.4.6 "mail forwarding loop
//! for RECIPIENT"); the argument vector is expanded element by element (`expand`) and the
//! program executed directly, never through a shell, with the message (`content`) on
//! standard input, in `directory=` (default $queue_directory, `/` when that is not
//! accessible), with PATH=/usr/bin:/bin and the $export_environment variables Postern has,
//! within `SERVICE_time_limit` (default $command_time_limit). Every recipient of the
//! request gets the command's one result: exit 0 is `delivered via SERVICE service`, the
//! sysexits(3) codes as `command` maps them (EX_TEMPFAIL defers, EX_NOUSER bounces 5.1.1,
//! ...), or the status the command printed (`4.2.2 mailbox full`), a signal defers, with
//! the command's output appended as Postfix does (`... Command output: TEXT`, and on success
//! `delivered via SERVICE service (TEXT)`).
//!
//! Security role: the command runs as `user=` (never root, never $mail_owner): through
//! the privileged helper when Postern runs as root (the helper re-reads the master.cf
//! entry and refuses other ids or another program, `attrs::check_request`); in-process
//! when Postern is not root and `user=` is the running user; otherwise the mail defers.
//! Logs a warning for a bad entry; the scheduler logs the outcomes
//! (`postfix/pipe[pid]: ID: to=<..>, relay=SERVICE, ..., status=sent (delivered via
//! SERVICE service)`).

pub mod attrs;
pub mod content;
pub mod expand;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Config;
use crate::delivery::command::{self, CommandJob};
use crate::delivery::privileged::HelperHandle;
use crate::delivery::request::{Op, Source};
use crate::delivery::{Agent, Outcome, Reply, Request, Status, dsn_of};

use self::attrs::{AttrError, Attrs};
use self::expand::{Rcpt, Values};

/// The pipe(8) agent for one master.cf service.
pub struct Pipe {
    service: String,
    cfg: Arc<Config>,
    attrs: Result<Attrs, AttrError>,
    helper: Option<Arc<HelperHandle>>,
}

/// The queue-file attribute behind each client macro.
const CLIENT_MACROS: &[(&str, &str)] = &[
    ("client_address", "client_address"),
    ("client_hostname", "client_name"),
    ("client_port", "client_port"),
    ("client_protocol", "protocol_name"),
    ("client_helo", "helo_name"),
    ("sasl_method", "sasl_method"),
    ("sasl_username", "sasl_username"),
    ("sasl_sender", "sasl_sender"),
];

impl Pipe {
    /// The agent for `service`, whose master.cf arguments (after `pipe`) are `args`.
    pub fn new(
        service: &str,
        args: &[String],
        cfg: Arc<Config>,
        helper: Option<Arc<HelperHandle>>,
    ) -> Pipe {
        Pipe {
            service: service.to_string(),
            // Without the root helper Postern runs as one user, which `user=` may name.
            attrs: attrs::parse(args, &cfg, helper.is_none()),
            cfg,
            helper,
        }
    }

    /// Why the entry cannot be used, for the start-up warning.
    pub fn config_error(&self) -> Option<String> {
        self.attrs.as_ref().err().map(|e| e.to_string())
    }

    fn config_failure(&self, warning: String) -> Reply {
        crate::log::warning("pipe", warning);
        Reply::new(dsn_of("4.3.5"), "mail system configuration error")
    }

    fn limit(&self) -> std::time::Duration {
        let name = format!("{}_time_limit", self.service);
        if self.cfg.has(&name) {
            self.cfg.time(&name)
        } else {
            self.cfg.time("command_time_limit")
        }
    }

    fn directory(&self, a: &Attrs) -> Result<PathBuf, Reply> {
        match &a.directory {
            Some(d) if Path::new(d).is_dir() => Ok(PathBuf::from(d)),
            Some(d) => Err(self.config_failure(format!(
                "service {}: directory={}: not an accessible directory",
                self.service, d
            ))),
            None => Ok(PathBuf::from(self.cfg.get("queue_directory"))),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![("PATH".to_string(), command::DEFAULT_PATH.to_string())];
        // `NAME` passes Postern's own value on, `NAME=VALUE` sets one (export_environment).
        for entry in self.cfg.list("export_environment") {
            let (name, value) = match entry.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (entry.clone(), std::env::var(&entry).ok()),
            };
            if let Some(v) = value
                && name != "PATH"
            {
                env.push((name, v));
            }
        }
        env
    }

    fn values<'r>(&'r self, a: &Attrs, req: &'r Request<'_>) -> Values<'r> {
        let sender = if req.sender.is_empty() {
            a.null_sender.clone()
        } else if a.flags.quote_local {
            let (l, d) = req.sender.rsplit_once('@').unwrap_or((req.sender, ""));
            let l = expand::quote_local(l);
            if d.is_empty() {
                l
            } else {
                format!("{}@{}", l, d)
            }
        } else {
            req.sender.to_string()
        };
        let nexthop = if a.flags.fold_host {
            req.nexthop.to_lowercase()
        } else {
            req.nexthop.to_string()
        };
        let attr = |n: &str| {
            req.attrs
                .iter()
                .find(|(k, _)| k == n)
                .map_or(String::new(), |(_, v)| v.clone())
        };
        let mut message = vec![
            ("sender", sender),
            ("nexthop", nexthop),
            ("size", req.content.len().to_string()),
            ("queue_id", req.queue_id.to_string()),
            ("envid", req.envid.unwrap_or("").to_string()),
        ];
        message.extend(CLIENT_MACROS.iter().map(|(m, q)| (*m, attr(q))));
        Values {
            message,
            recipients: req
                .recipients
                .iter()
                .map(|r| Rcpt {
                    address: &r.address,
                    original: r.orig.as_deref().unwrap_or(&r.address),
                })
                .collect(),
            flags: a.flags,
            delimiter: self.cfg.get("recipient_delimiter"),
        }
    }

    /// The checks before the command runs, then the command: one reply for the request.
    fn attempt(&self, a: &Attrs, req: &Request<'_>) -> Reply {
        let n = req.recipients.len();
        for (flag, set) in [('D', a.flags.delivered_to), ('O', a.flags.original_to)] {
            if set && n > 1 {
                return self.config_failure(format!(
                    "pipe flag `{}' requires {}_destination_recipient_limit = 1",
                    flag, self.service
                ));
            }
        }
        if a.size_limit > 0 && req.content.len() as u64 > a.size_limit {
            return Reply::new(dsn_of("5.2.3"), "message too large");
        }
        let first = &req.recipients[0];
        if a.flags.delivered_to {
            let rcpt = first.address.to_ascii_lowercase();
            if crate::delivery::local::delivered_to_headers(req.content).contains(&rcpt) {
                let text = format!("mail forwarding loop for {}", first.address);
                return Reply::new(dsn_of("5.4.6"), text);
            }
        }
        let values = self.values(a, req);
        let argv = match expand::expand(&a.argv, &values) {
            Ok(v) => v,
            Err(name) => {
                let master = self.cfg.dir().join("master.cf");
                return self.config_failure(format!(
                    "file {}: service {}: unknown macro name: \"{}\"",
                    master.display(),
                    self.service,
                    name
                ));
            }
        };
        let dir = match self.directory(a) {
            Ok(d) => d,
            Err(r) => return r,
        };
        let headers = content::Headers {
            sender: if req.sender.is_empty() {
                &a.null_sender
            } else {
                req.sender
            },
            recipient: &first.address,
            original: first.orig.as_deref().unwrap_or(&first.address),
            now: crate::log::timefmt::now_secs(),
        };
        let job = CommandJob {
            command: argv[0].clone(),
            argv,
            // Never a shell for pipe(8): `argv` is executed as given.
            shell: String::new(),
            dir_required: false,
            env: self.env(),
            dir,
            limit: self.limit(),
            input: content::input(a, &headers, req.content),
        };
        self.run(a, job)
    }

    /// Run the command as `user=`: through the root helper, or in-process when that is
    /// the running user.
    fn run(&self, a: &Attrs, job: CommandJob) -> Reply {
        if let Some(h) = &self.helper {
            let op = Op::Command {
                source: Source::Pipe(self.service.clone()),
                uid: a.uid,
                gid: a.gid,
                job,
            };
            return h
                .request_all(&op)
                .into_iter()
                .next()
                .unwrap_or_else(|| Reply::new(dsn_of("4.3.0"), "no answer from the helper"));
        }
        if a.uid == crate::sys::euid() {
            return command::run(&job);
        }
        self.config_failure(format!(
            "service {}: user={} requires root privileges: Postern runs as uid {}",
            self.service,
            a.user,
            crate::sys::euid()
        ))
    }
}

impl Agent for Pipe {
    fn name(&self) -> &str {
        "pipe"
    }

    fn deliver(&self, req: &Request<'_>) -> Vec<Outcome> {
        let reply = match &self.attrs {
            Err(e) => self.config_failure(format!("service {}: {}", self.service, e)),
            Ok(_) if req.recipients.is_empty() => return Vec::new(),
            Ok(a) => self.attempt(a, req),
        };
        let text = if reply.status == Status::Sent && reply.text.is_empty() {
            format!("delivered via {} service", self.service)
        } else if reply.status == Status::Sent {
            // What the command printed, as Postfix's pipe(8) quotes it.
            format!("delivered via {} service ({})", self.service, reply.text)
        } else {
            reply.text
        };
        (0..req.recipients.len())
            .map(|i| Outcome::new(i, reply.dsn, &text, &self.service))
            .collect()
    }

    /// `sendmail -bv`: Postfix's pipe(8) answers `delivers to command: PROGRAM`.
    fn verify(&self, req: &Request<'_>) -> Vec<Outcome> {
        let (dsn, text) = match &self.attrs {
            Ok(a) => (
                dsn_of("2.0.0"),
                format!("delivers to command: {}", a.argv[0]),
            ),
            Err(_) => (dsn_of("4.3.5"), "mail system configuration error".into()),
        };
        (0..req.recipients.len())
            .map(|i| Outcome::new(i, dsn, &text, &self.service))
            .collect()
    }
}

#[cfg(test)]
mod tests;
