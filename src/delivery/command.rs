//! Delivery to a command (`|command` alias targets, $mailbox_command): as Postfix's
//! exec_command(3), a command made only of letters, digits, space, tab and `!@%-_=+:,./` is
//! split on white space and executed directly (through PATH); any other character (a shell
//! metacharacter, a quote) runs it as `/bin/sh -c COMMAND`. For pipe(8), an argument vector
//! (`CommandJob::argv`) is executed directly, never through a shell. The message goes on standard
//! input, with a clean environment (HOME, LOGNAME, USER, SHELL, PATH, RECIPIENT, SENDER,
//! EXTENSION, DOMAIN, LOCAL, ... as local(8) sets them), a time limit (command_time_limit,
//! after which the whole process group is killed and the mail bounces with 5.3.0, as in
//! Postfix's pipe_command()), and the exit status mapped through
//! sysexits(3) as Postfix's pipe code does: 0 is delivered, EX_TEMPFAIL and EX_OSERR defer,
//! other known codes bounce with their enhanced status, anything else bounces with 5.3.0.
//!
//! Security role: runs as the alias database owner or $default_privs, never root (the
//! privileged helper refuses uid 0 for commands); the shell gets no inherited environment.
//! Logs nothing; the caller logs the outcome.

use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::Reply;
use super::dsn_of;

/// A command delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandJob {
    /// The shell command; for an `argv` job, the program (`argv[0]`), for the texts.
    pub command: String,
    /// When not empty, the program and its arguments, executed without a shell (pipe(8));
    /// each element is one argument, whatever characters it holds.
    pub argv: Vec<String>,
    /// $local_command_shell: when not empty, its words with the command as the last
    /// argument are executed instead (e.g. `/usr/sbin/smrsh -c`), as Postfix does.
    pub shell: String,
    pub env: Vec<(String, String)>,
    /// Working directory (the user's home when it exists, else `/`).
    pub dir: PathBuf,
    /// $command_execution_directory: `dir` must be entered, or the delivery is deferred.
    pub dir_required: bool,
    pub limit: Duration,
    pub input: Vec<u8>,
}

/// The default PATH a command sees.
pub const DEFAULT_PATH: &str = "/usr/bin:/bin";

/// The variables local(8) sets for a command (`local::environ`), besides PATH.
pub const LOCAL_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "USER",
    "SENDER",
    "RECIPIENT",
    "LOCAL",
    "SHELL",
    "DOMAIN",
    "EXTENSION",
    "ORIGINAL_RECIPIENT",
    "ENVID",
];

/// The root helper's check of a command request's environment: PATH is `DEFAULT_PATH`, an
/// $export_environment `NAME=VALUE` has that value, and every other name is one of `names`
/// or an $export_environment name. A forged request cannot add LD_PRELOAD and the like.
/// `Err(name)` names the first variable refused.
pub fn check_env(
    env: &[(String, String)],
    names: &[&str],
    exported: &[String],
) -> Result<(), String> {
    for (name, value) in env {
        let ok = if name == "PATH" {
            value == DEFAULT_PATH
        } else {
            names.contains(&name.as_str())
                || exported.iter().any(|e| match e.split_once('=') {
                    Some((n, v)) => n == name && v == value,
                    None => e == name,
                })
        };
        if !ok {
            return Err(name.clone());
        }
    }
    Ok(())
}

const OUTPUT_LIMIT: usize = 500;

/// Output quoted after a successful pipe(8) delivery (Postfix's `%.100s`).
const SUCCESS_OUTPUT_LIMIT: usize = 100;

/// sysexits(3) codes: (code, enhanced status, text); the status follows from the code's class.
const SYSEXITS: &[(i32, &str, &str)] = &[
    (64, "5.3.0", "command line usage error"),
    (65, "5.6.0", "data format error"),
    (66, "5.3.0", "cannot open input"),
    (67, "5.1.1", "user unknown"),
    (68, "5.1.2", "host name unknown"),
    (69, "5.3.0", "service unavailable"),
    (70, "5.3.0", "internal software error"),
    (71, "4.3.0", "system resource problem"),
    (72, "5.3.0", "critical OS file missing"),
    (73, "5.2.0", "can't create user output file"),
    (74, "5.3.0", "input/output error"),
    (75, "4.3.0", "temporary failure"),
    (76, "5.5.0", "remote error in protocol"),
    (77, "5.7.0", "permission denied"),
    (78, "5.3.5", "local configuration error"),
];

fn reply(dsn: &str, text: String) -> Reply {
    Reply::new(dsn_of(dsn), text)
}

/// At most `limit` characters of the output, trimmed, controls as spaces.
fn printable(output: &[u8], limit: usize) -> String {
    String::from_utf8_lossy(output)
        .trim()
        .chars()
        .take(limit)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A failed argv job whose output starts with an enhanced status code of class 4 or 5
/// (`4.2.2 mailbox full`): that status and the text after it, as Postfix's pipe(8) uses them.
fn dsn_output(output: &[u8]) -> Option<(crate::reply::Dsn, String)> {
    let out = printable(output, OUTPUT_LIMIT);
    let (code, text) = out.split_once(' ').unwrap_or((out.as_str(), ""));
    let dsn = crate::reply::Dsn::parse(code)?;
    let transient = code.starts_with('4');
    (transient || code.starts_with('5')).then(|| (dsn, text.trim().to_string()))
}

fn with_output(text: String, output: &[u8]) -> String {
    let out = printable(output, OUTPUT_LIMIT);
    if out.is_empty() {
        text
    } else {
        format!("{}. Command output: {}", text, out)
    }
}

/// The characters exec_command(3) lets through without a shell (besides space and tab).
const PLAIN: &str = "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The words of a command that needs no shell; None when it must go to `/bin/sh -c`.
pub fn plain_words(command: &str) -> Option<Vec<&str>> {
    let plain = command
        .chars()
        .all(|c| c == ' ' || c == '\t' || PLAIN.contains(c));
    let words: Vec<&str> = command
        .split([' ', '\t'])
        .filter(|w| !w.is_empty())
        .collect();
    (plain && !words.is_empty()).then_some(words)
}

/// The process for `command`: executed directly when it needs no shell, else `/bin/sh -c`.
fn command_for(command: &str) -> Command {
    match plain_words(command) {
        Some(words) => {
            let mut c = Command::new(words[0]);
            c.args(&words[1..]);
            c
        }
        None => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(command);
            c
        }
    }
}

/// Run the command and classify the result.
pub fn run(job: &CommandJob) -> Reply {
    let dir = if job.dir.is_dir() {
        job.dir.clone()
    } else if job.dir_required {
        return reply(
            "4.3.0",
            format!("cannot change directory to \"{}\"", job.dir.display()),
        );
    } else {
        PathBuf::from("/")
    };
    let mut spawned = spawn(job, &dir, false);
    if let Err(e) = &spawned
        && job.argv.is_empty()
        && job.shell.trim().is_empty()
        && e.kind() == std::io::ErrorKind::NotFound
        && plain_words(&job.command).is_some_and(|w| !w[0].contains('/'))
    {
        // As exec_command(3): perhaps a shell built-in.
        spawned = spawn(job, &dir, true);
    }
    run_spawned(job, spawned)
}

fn spawn(
    job: &CommandJob,
    dir: &std::path::Path,
    shell: bool,
) -> std::io::Result<std::process::Child> {
    let configured: Vec<&str> = job.shell.split_whitespace().collect();
    let mut cmd = if let Some((program, args)) = job.argv.split_first() {
        // pipe(8): the argument vector as given, never through a shell.
        let mut c = Command::new(program);
        c.args(args);
        c
    } else if let Some((prog, args)) = configured.split_first() {
        let mut c = Command::new(prog);
        c.args(args).arg(&job.command);
        c
    } else if shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(&job.command);
        c
    } else {
        command_for(&job.command)
    };
    cmd.env_clear()
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

fn run_spawned(job: &CommandJob, spawned: std::io::Result<std::process::Child>) -> Reply {
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            return reply(
                "4.3.0",
                format!("cannot execute command \"{}\": {}", job.command, e),
            );
        }
    };
    let pid = child.id() as i32;
    let stdin = child.stdin.take();
    let input = job.input.clone();
    let writer = std::thread::spawn(move || {
        if let Some(mut s) = stdin {
            // A command that does not read its input is not an error (EPIPE ignored).
            let _ = s.write_all(&input);
        }
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut buf);
            let _ = std::io::copy(s, &mut std::io::sink());
        }
        buf
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = child.stdout.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut out);
            let _ = std::io::copy(s, &mut std::io::sink());
        }
        let _ = tx.send((child.wait(), out));
    });
    let (status, mut output) = match rx.recv_timeout(job.limit) {
        Ok(r) => r,
        Err(_) => {
            // A negative pid signals the process group we created for the command
            // (process_group(0) made its pid the group id).
            let _ = crate::sys::kill(-pid, libc::SIGKILL);
            let mut output = rx.recv().map(|(_, out)| out).unwrap_or_default();
            let _ = writer.join();
            output.extend(err_reader.join().unwrap_or_default());
            // As Postfix's pipe_command(): the mail bounces (local(8) and pipe(8) alike).
            return reply(
                "5.3.0",
                with_output(
                    format!("Command time limit exceeded: \"{}\"", job.command),
                    &output,
                ),
            );
        }
    };
    let _ = writer.join();
    output.extend(err_reader.join().unwrap_or_default());
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            return reply(
                "4.3.0",
                format!("cannot wait for command \"{}\": {}", job.command, e),
            );
        }
    };
    let argv_job = !job.argv.is_empty();
    match (status.code(), status.signal()) {
        // pipe(8) quotes what the command said: `delivered via SERVICE service (OUTPUT)`.
        (Some(0), _) if argv_job => reply("2.0.0", printable(&output, SUCCESS_OUTPUT_LIMIT)),
        (Some(0), _) => reply("2.0.0", format!("delivered to command: {}", job.command)),
        // pipe(8): a command's own `X.Y.Z text` output gives the status.
        (Some(code), _) => match argv_job.then(|| dsn_output(&output)).flatten() {
            Some((dsn, text)) => Reply::new(dsn, text),
            None => match SYSEXITS.iter().find(|e| e.0 == code) {
                Some(&(_, dsn, text)) => reply(dsn, with_output(text.into(), &output)),
                None => reply(
                    "5.3.0",
                    with_output(
                        format!("Command died with status {}: \"{}\"", code, job.command),
                        &output,
                    ),
                ),
            },
        },
        (None, sig) => reply(
            "4.3.0",
            format!(
                "Command died with signal {}: \"{}\"",
                sig.unwrap_or(0),
                job.command
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::Status;

    fn job(cmd: &str) -> CommandJob {
        CommandJob {
            command: cmd.into(),
            argv: Vec::new(),
            shell: String::new(),
            dir_required: false,
            env: vec![
                ("PATH".into(), DEFAULT_PATH.into()),
                ("RECIPIENT".into(), "u@h".into()),
            ],
            dir: "/nonexistent-dir".into(),
            limit: Duration::from_secs(30),
            input: b"Subject: hi\n\nbody\n".to_vec(),
        }
    }

    #[test]
    fn the_helper_refuses_environments_local_never_builds() {
        let e = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let exported = vec!["TZ".to_string(), "LANG=C".to_string()];
        let ok = e(&[
            ("PATH", DEFAULT_PATH),
            ("HOME", "/h"),
            ("TZ", "UTC"),
            ("LANG", "C"),
        ]);
        assert_eq!(check_env(&ok, LOCAL_ENV, &exported), Ok(()));
        for bad in [
            ("LD_PRELOAD", "/tmp/x.so"),
            ("PATH", "/tmp:/usr/bin"),
            ("LANG", "de_DE"),
            ("HOME", "/h"),
        ] {
            let names: &[&str] = if bad.0 == "HOME" { &[] } else { LOCAL_ENV };
            assert_eq!(
                check_env(&e(&[bad]), names, &exported),
                Err(bad.0.to_string()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn exit_codes_and_environment() {
        let ok = run(&job(
            "test \"$RECIPIENT\" = u@h && test \"$(pwd)\" = / && grep -q body",
        ));
        assert_eq!(
            (ok.status, ok.dsn.as_str()),
            (Status::Sent, "2.0.0"),
            "{}",
            ok.text
        );
        assert_eq!(
            ok.text,
            "delivered to command: test \"$RECIPIENT\" = u@h && test \"$(pwd)\" = / && grep -q body"
        );
        let t = run(&job("echo busy; exit 75"));
        assert_eq!((t.status, t.dsn.as_str()), (Status::Deferred, "4.3.0"));
        assert_eq!(t.text, "temporary failure. Command output: busy");
        let u = run(&job("exit 67"));
        assert_eq!(
            (u.status, u.dsn.as_str(), u.text.as_str()),
            (Status::Bounced, "5.1.1", "user unknown")
        );
        let x = run(&job("echo oops >&2; exit 3"));
        assert_eq!(x.status, Status::Bounced);
        assert_eq!(
            x.text,
            "Command died with status 3: \"echo oops >&2; exit 3\". Command output: oops"
        );
        let nothing = run(&job("true"));
        assert_eq!(nothing.status, Status::Sent, "unread input is not an error");
        assert!(
            run(&job("echo $HOME | grep -q .")).status != Status::Sent,
            "no inherited env"
        );
    }

    #[test]
    fn argv_jobs_run_without_a_shell() {
        let mut j = job("printf");
        j.argv = ["printf", "%s|", "x;id@host", "$(id)@host"]
            .map(String::from)
            .to_vec();
        j.command = "printf".into();
        let mut out = job("");
        out.argv = ["sh", "-c", "exit 67"].map(String::from).to_vec();
        out.command = "sh".into();
        let r = run(&out);
        assert_eq!((r.status, r.dsn.as_str()), (Status::Bounced, "5.1.1"));
        let mut status = job("");
        status.argv = ["sh", "-c", "echo 'x;id' >&2; exit 3"]
            .map(String::from)
            .to_vec();
        status.command = "sh".into();
        assert_eq!(
            run(&status).text,
            "Command died with status 3: \"sh\". Command output: x;id"
        );
        let mut said = job("");
        said.argv = ["sh", "-c", "echo '4.2.2 mailbox full'; exit 1"]
            .map(String::from)
            .to_vec();
        said.command = "sh".into();
        let r = run(&said);
        assert_eq!(
            (r.status, r.dsn.as_str(), r.text.as_str()),
            (Status::Deferred, "4.2.2", "mailbox full")
        );
        let mut ok = job("");
        ok.argv = ["sh", "-c", "echo stored as 17"].map(String::from).to_vec();
        ok.command = "sh".into();
        assert_eq!(run(&ok).text, "stored as 17");
        let mut missing = job("");
        missing.argv = vec!["/nonexistent/prog".into()];
        missing.command = "/nonexistent/prog".into();
        assert_eq!(run(&missing).status, Status::Deferred);
        assert_eq!(run(&j).status, Status::Sent);
    }

    #[test]
    fn plain_commands_run_without_a_shell() {
        assert_eq!(
            plain_words("/usr/bin/maildrop -d user@x"),
            Some(vec!["/usr/bin/maildrop", "-d", "user@x"])
        );
        assert_eq!(
            plain_words("procmail\t-a x"),
            Some(vec!["procmail", "-a", "x"])
        );
        for shell in [
            "procmail -a \"$EXTENSION\"",
            "a;b",
            "a|b",
            "x > y",
            "  ",
            "",
        ] {
            assert_eq!(plain_words(shell), None, "{:?}", shell);
        }
        // Executed directly: a `$` in an argument is not expanded by anyone.
        let mut j = job("/bin/echo plain");
        j.command = "printenv RECIPIENT".into();
        let r = run(&j);
        assert_eq!(r.status, Status::Sent, "{}", r.text);
        // Not a program: as exec_command(3), a shell is tried (a built-in).
        let r = run(&job("exit 75"));
        assert_eq!(r.status, Status::Deferred);
        // local_command_shell: its words, then the command as one argument.
        let mut j = job("exit 67");
        j.shell = "/bin/sh -c".into();
        assert_eq!(run(&j).dsn.as_str(), "5.1.1");
        let mut j = job("a;b $HOME");
        j.shell = "/bin/echo".into();
        let r = run(&j);
        assert_eq!(r.status, Status::Sent, "{}", r.text);
    }

    #[test]
    fn time_limit_kills_the_group() {
        let mut j = job("echo working; sleep 30 & sleep 30");
        j.limit = Duration::from_millis(500);
        let start = std::time::Instant::now();
        let r = run(&j);
        assert_eq!((r.status, r.dsn.as_str()), (Status::Bounced, "5.3.0"));
        assert_eq!(
            r.text,
            "Command time limit exceeded: \"echo working; sleep 30 & sleep 30\". Command output: working"
        );
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
