//! Postfix 3's per-command counters for the `disconnect from` line: ` ehlo=1 mail=1 rcpt=0/1
//! data=0/1 quit=1 commands=3/5` (smtpd.c's smtpd_format_cmd_stats). For each command
//! received, in Postfix's table order, `name=S` when all S succeeded, else `name=S/T`;
//! commands Postern does not know are counted as `unknown`; then `commands=S`, or `S/T`
//! when some failed or none came (`commands=0/0`). A command succeeds when its reply is not
//! a 4xx/5xx refusal; a command refused before it ran (access denied, STARTTLS required,
//! improper pipelining) counts as failed, as in Postfix.
//!
//! Security role: none (counting); fail2ban's postfix filter (ddos and aggressive modes)
//! reads `auth=0/N`.

/// The commands Postern knows, in the order of Postfix's smtpd_cmd_table.
const NAMES: [&str; 13] = [
    "helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "bdat", "rset", "noop", "vrfy",
    "etrn", "quit",
];
const UNKNOWN: usize = NAMES.len();

/// One session's counters.
#[derive(Debug, Default)]
pub(super) struct CmdStats {
    success: [u32; UNKNOWN + 1],
    total: [u32; UNKNOWN + 1],
}

impl CmdStats {
    /// Count a received command (`verb` in any case); returns its slot for `succeeded`.
    pub(super) fn count(&mut self, verb: &str) -> usize {
        let slot = NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(verb))
            .unwrap_or(UNKNOWN);
        self.total[slot] += 1;
        slot
    }

    /// Count a line that is not a command (bad syntax, bad UTF-8) as `unknown`.
    pub(super) fn count_unknown(&mut self) {
        self.total[UNKNOWN] += 1;
    }

    /// The command in `slot` succeeded (an unknown command never does).
    pub(super) fn succeeded(&mut self, slot: usize) {
        if slot < UNKNOWN {
            self.success[slot] += 1;
        }
    }

    /// ` ehlo=1 mail=1 ... commands=N[/M]`, with its leading space.
    pub(super) fn format(&self) -> String {
        let mut out = String::new();
        let (mut all_s, mut all_t) = (0, 0);
        for (slot, name) in NAMES.iter().chain(["unknown"].iter()).enumerate() {
            let (s, t) = (self.success[slot], self.total[slot]);
            if t == 0 {
                continue;
            }
            out.push_str(&format!(" {}={}", name, s));
            if s != t {
                out.push_str(&format!("/{}", t));
            }
            all_s += s;
            all_t += t;
        }
        out.push_str(&format!(" commands={}", all_s));
        if all_s != all_t || all_t == 0 {
            out.push_str(&format!("/{}", all_t));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_postfix_formats_them() {
        assert_eq!(CmdStats::default().format(), " commands=0/0");
        let mut c = CmdStats::default();
        for (verb, ok) in [
            ("EHLO", true),
            ("mail", true),
            ("RCPT", false),
            ("data", false),
            ("QUIT", true),
        ] {
            let slot = c.count(verb);
            if ok {
                c.succeeded(slot);
            }
        }
        assert_eq!(
            c.format(),
            " ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5"
        );
        let mut c = CmdStats::default();
        let slot = c.count("ehlo");
        c.succeeded(slot);
        c.count("AUTH");
        c.count("AUTH");
        let slot = c.count("XYZZY");
        c.succeeded(slot);
        c.count_unknown();
        assert_eq!(c.format(), " ehlo=1 auth=0/2 unknown=0/2 commands=1/5");
    }

    #[test]
    fn bdat_has_its_slot_after_data() {
        let mut c = CmdStats::default();
        for (verb, ok) in [
            ("DATA", false),
            ("BDAT", true),
            ("bdat", false),
            ("QUIT", true),
        ] {
            let slot = c.count(verb);
            if ok {
                c.succeeded(slot);
            }
        }
        assert_eq!(c.format(), " data=0/1 bdat=1/2 quit=1 commands=2/4");
    }
}
