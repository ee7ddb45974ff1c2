//! sendmail(1): Sendmail-compatible submission. See `postern::sendmail`.

use std::path::Path;

use postern::config::{Config, config_dir};
use postern::sendmail::{self, EX_USAGE, Failure, Submit};

fn fail(f: Failure) -> ! {
    eprintln!("sendmail: fatal: {}", f.message);
    std::process::exit(f.code);
}

/// Run postqueue (set-gid: it reaches the running system's showq socket and qmgr FIFO) in
/// place of this process: `sendmail -bp`, `mailq`, `sendmail -q`.
fn postqueue(cfg: &Config, dir: &Path, args: &[&str]) -> ! {
    use std::os::unix::process::CommandExt;
    let prog = sendmail::sibling_program(cfg, "postqueue");
    let e = std::process::Command::new(&prog)
        .arg("-c")
        .arg(dir)
        .args(args)
        .exec();
    fail(Failure::new(
        sendmail::EX_SOFTWARE,
        format!("cannot run {}: {}", prog.display(), e),
    ))
}

/// The submission options of the command line.
fn submit_options(m: &getopts::Matches) -> Submit {
    let ignore_dots = m.opt_present("i") || m.opt_strs("o").iter().any(|o| o == "i");
    Submit {
        sender: m.opt_strs("f").last().or(m.opt_strs("r").last()).cloned(),
        full_name: m.opt_strs("F").last().cloned(),
        extract_recipients: m.opt_present("t"),
        ignore_dots,
        recipients: m.free.clone(),
        notify: m.opt_strs("N").last().cloned(),
        ret: m.opt_strs("R").last().cloned(),
        envid: m.opt_strs("V").last().cloned(),
    }
}

fn main() {
    let argv0 = std::env::args().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("sendmail")
        .to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = getopts::Options::new();
    opts.parsing_style(getopts::ParsingStyle::FloatingFrees);
    for o in [
        "A", "B", "C", "F", "L", "N", "O", "R", "V", "X", "b", "e", "f", "h", "o", "p", "r",
    ] {
        opts.optmulti(o, "", "", "ARG");
    }
    // -q, -qInterval (flush; the interval is ignored), -qIqueueid, -qRsite.
    opts.optflagopt("q", "", "", "ARG");
    for f in ["G", "I", "U", "c", "i", "m", "n", "t", "v", "x"] {
        opts.optflagmulti(f, "", "");
    }
    let m = match opts.parse(&args) {
        Ok(m) => m,
        Err(e) => fail(Failure::new(EX_USAGE, format!("{}", e))),
    };
    let mode = if name == "newaliases" {
        Some("i".to_string())
    } else if name == "mailq" {
        Some("p".to_string())
    } else if m.opt_present("I") {
        // -I: initialize the alias database, as -bi (Postfix's sendmail(1)).
        Some("i".to_string())
    } else {
        m.opt_strs("b").last().cloned()
    };
    let dir = config_dir(m.opt_strs("C").last().map(String::as_str));
    let cfg = Config::load(&dir).unwrap_or_else(|e| fail(Failure::new(EX_USAGE, e.to_string())));
    match mode.as_deref() {
        None | Some("m") => {}
        Some("i") => {
            let args = vec!["-c".to_string(), dir.display().to_string()];
            std::process::exit(postern::postmap::newaliases_command(&args));
        }
        Some("p") => postqueue(&cfg, &dir, &["-p"]),
        Some("v") => {
            // Address verification: no message is read; a report goes to the sender.
            let opts = submit_options(&m);
            let probe = b"Subject: probe\n\n".to_vec();
            let (mut env, content) =
                sendmail::prepare(&cfg, &opts, probe).unwrap_or_else(|f| fail(f));
            env.set_attr("verify", "1");
            if let Err(f) = sendmail::submit(&cfg, env, &content) {
                fail(f);
            }
            return;
        }
        Some("s") => {
            postern::log::init(&cfg, false);
            if let Err(f) = sendmail::standalone::run(cfg) {
                fail(f);
            }
            return;
        }
        Some(other) => fail(Failure::new(
            EX_USAGE,
            format!("unsupported mode: -b{}", other),
        )),
    }
    if m.opt_present("q") {
        let arg = m.opt_str("q").unwrap_or_default();
        if let Some(id) = arg.strip_prefix('I') {
            postqueue(&cfg, &dir, &["-i", id]);
        } else if let Some(site) = arg.strip_prefix('R') {
            postqueue(&cfg, &dir, &["-s", site]);
        }
        postqueue(&cfg, &dir, &["-f"]);
    }
    let opts = submit_options(&m);
    let limit = cfg.int("message_size_limit").max(0) as usize;
    let message = sendmail::read_message(&mut std::io::stdin().lock(), opts.ignore_dots, limit)
        .unwrap_or_else(|f| fail(f));
    let (env, content) = sendmail::prepare(&cfg, &opts, message).unwrap_or_else(|f| fail(f));
    if let Err(f) = sendmail::submit(&cfg, env, &content) {
        fail(f);
    }
}
