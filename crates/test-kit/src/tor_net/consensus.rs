//! Reading an authority's cached consensus, to know when every relay is listed.

/// One router entry: its `r` line and the flags of its `s` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Router {
    pub(super) nickname: String,
    /// RSA identity, base64 without padding, as in the `r` line.
    pub(super) identity: String,
    pub(super) flags: Vec<String>,
}

impl Router {
    pub(super) fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
}

/// The routers of a consensus document (either flavour: the `r` line's first two fields are
/// the same in both).
pub(super) fn routers(document: &str) -> Vec<Router> {
    let mut out: Vec<Router> = Vec::new();
    for line in document.lines() {
        if let Some(rest) = line.strip_prefix("r ") {
            let mut fields = rest.split_whitespace();
            if let (Some(nickname), Some(identity)) = (fields.next(), fields.next()) {
                out.push(Router {
                    nickname: nickname.to_owned(),
                    identity: identity.to_owned(),
                    flags: Vec::new(),
                });
            }
        } else if let Some(rest) = line.strip_prefix("s ")
            && let Some(router) = out.last_mut()
        {
            router.flags = rest.split_whitespace().map(str::to_owned).collect();
        }
    }
    out
}

/// What a relay must look like in the consensus before clients may start.
#[derive(Debug, Clone, Copy)]
pub(super) struct Expected<'a> {
    pub(super) nickname: &'a str,
    /// RSA identity, base64 without padding.
    pub(super) identity: &'a str,
    pub(super) exit: bool,
}

/// Why `document` is not yet good enough: one entry per relay that is missing or lacks a flag
/// (`Running` and `Valid`; `Exit` for exits). Empty when every relay is usable.
pub(super) fn missing(document: &str, expected: &[Expected<'_>]) -> Vec<String> {
    let routers = routers(document);
    let mut out = Vec::new();
    for want in expected {
        let Some(router) = routers.iter().find(|r| r.identity == want.identity) else {
            out.push(format!("{} not listed", want.nickname));
            continue;
        };
        let mut flags: Vec<&str> = vec!["Running", "Valid"];
        if want.exit {
            flags.push("Exit");
        }
        let lacking: Vec<&str> = flags.into_iter().filter(|f| !router.has_flag(f)).collect();
        if !lacking.is_empty() {
            out.push(format!("{} lacks {}", want.nickname, lacking.join("+")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "network-status-version 3 microdesc\n\
        valid-after 2026-11-21 06:50:10\n\
        r auth0 83ymhyDGKrW0o3mPqIu7lRwCMSo 2026-11-21 06:50:02 127.0.0.1 20002 20003\n\
        m 5v2hUGmd8BLFh0fQ0oIxAgBjNhNAKd6hXNMx2BZ7Q1c\n\
        s Authority Fast Guard HSDir Running Stable V2Dir Valid\n\
        r exit0 eIxemHDMvyndqlfAKPxhXwqFbXg 2026-11-21 06:50:02 127.0.0.1 20008 0\n\
        s Fast Guard Running Stable Valid\n\
        directory-footer\n";

    #[test]
    fn reads_routers_and_flags() {
        let routers = routers(DOC);
        assert_eq!(routers.len(), 2);
        assert_eq!(routers[0].nickname, "auth0");
        assert_eq!(routers[0].identity, "83ymhyDGKrW0o3mPqIu7lRwCMSo");
        assert!(routers[0].has_flag("V2Dir"));
        assert!(!routers[1].has_flag("Exit"));
    }

    #[test]
    fn reports_missing_relays_and_flags() {
        let expected = [
            Expected {
                nickname: "auth0",
                identity: "83ymhyDGKrW0o3mPqIu7lRwCMSo",
                exit: false,
            },
            Expected {
                nickname: "exit0",
                identity: "eIxemHDMvyndqlfAKPxhXwqFbXg",
                exit: true,
            },
            Expected {
                nickname: "middle0",
                identity: "w8y0VG6NieZ3ZNo2sRH7hA/T4EY",
                exit: false,
            },
        ];
        assert_eq!(
            missing(DOC, &expected),
            ["exit0 lacks Exit", "middle0 not listed"]
        );
        assert!(missing(DOC, &expected[..1]).is_empty());
    }
}
