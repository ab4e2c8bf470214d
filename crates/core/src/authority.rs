//! The authority of a URL (host, plus port when it is not the scheme's default): what instances
//! are keyed by in the database and what every spoofing check compares, so two nodes on one host
//! are two instances.

use url::Url;

/// The authority of `url` as instances are keyed: the host in lower case (an IPv6 address in
/// brackets), then `:port` when the URL names a port other than its scheme's default
/// (`localhost:8001`, `example.com`, `[::1]:8080`). Empty when the URL has no host.
pub fn authority(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}:{port}", host.to_lowercase()),
        (Some(host), None) => host.to_lowercase(),
        (None, _) => String::new(),
    }
}

/// Whether two URLs belong to the same server: the same [`authority`], whatever their scheme
/// and path. A URL without a host shares its authority with nothing.
pub fn same_authority(a: &Url, b: &Url) -> bool {
    let x = authority(a);
    !x.is_empty() && x == authority(b)
}

/// An authority as an administrator types it (`lemmy.example`, `Host:8443`, or a URL such as
/// `https://lemmy.example/`), written as [`authority`] writes it: lower case, a port only when it
/// is not https's default. `None` when it is not a plain host with an optional port (a path,
/// user info, a query or no host at all).
pub fn parse_authority(input: &str) -> Option<String> {
    let input = input.trim();
    let url = if input.contains("://") {
        Url::parse(input).ok()?
    } else {
        Url::parse(&format!("https://{input}")).ok()?
    };
    let plain = url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && (url.path() == "/" || url.path().is_empty());
    let a = authority(&url);
    (plain && !a.is_empty()).then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_administrator_s_authority_is_read_as_the_instance_key() {
        assert_eq!(
            parse_authority("Lemmy.Example").as_deref(),
            Some("lemmy.example")
        );
        assert_eq!(
            parse_authority("localhost:8001").as_deref(),
            Some("localhost:8001")
        );
        assert_eq!(
            parse_authority("example.com:443").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            parse_authority("https://example.com/").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            parse_authority("http://example.com:8080").as_deref(),
            Some("example.com:8080")
        );
        assert_eq!(parse_authority("[::1]:8080").as_deref(), Some("[::1]:8080"));
        assert_eq!(parse_authority("example.com/u/x"), None);
        assert_eq!(parse_authority("user@example.com"), None);
        assert_eq!(parse_authority(""), None);
        assert_eq!(parse_authority("exa mple.com"), None);
    }

    fn of(raw: &str) -> String {
        authority(&Url::parse(raw).unwrap())
    }

    #[test]
    fn authority_is_the_lower_case_host_with_a_port_other_than_the_default() {
        assert_eq!(of("https://Example.COM/u/x"), "example.com");
        assert_eq!(of("http://localhost:8001/u/x"), "localhost:8001");
        // An explicit default port is the same server as none.
        assert_eq!(of("https://example.com:443/x"), "example.com");
        assert_eq!(of("http://example.com:80/x"), "example.com");
        // Another scheme's default port is kept.
        assert_eq!(of("http://example.com:443/x"), "example.com:443");
        assert_eq!(of("https://example.com:80/x"), "example.com:80");
        // IPv4 and IPv6 literals; an IPv6 address keeps its brackets, in lower case.
        assert_eq!(of("http://127.0.0.1:9000/"), "127.0.0.1:9000");
        assert_eq!(of("http://[::1]:8080/inbox"), "[::1]:8080");
        assert_eq!(of("https://[2001:DB8::1]:443/"), "[2001:db8::1]");
        // Not part of the authority: user info, query, fragment.
        assert_eq!(
            of("https://user:pw@Example.com:8443/p?q=1#f"),
            "example.com:8443"
        );
        // A non-special scheme keeps its host's case in the URL; the authority does not.
        assert_eq!(of("x-y://EXAMPLE.com:7/"), "example.com:7");
        // No host, no authority.
        assert_eq!(of("urn:isbn:0451450523"), "");
        assert_eq!(of("data:text/plain,hi"), "");
    }

    #[test]
    fn same_authority_compares_host_and_port_only() {
        let a = Url::parse("http://localhost:8001/u/x").unwrap();
        assert!(same_authority(
            &a,
            &Url::parse("https://LOCALHOST:8001/y").unwrap()
        ));
        assert!(!same_authority(
            &a,
            &Url::parse("http://localhost:8002/u/x").unwrap()
        ));
        assert!(!same_authority(
            &a,
            &Url::parse("http://localhost/u/x").unwrap()
        ));
        let hostless = Url::parse("urn:x:1").unwrap();
        assert!(!same_authority(&hostless, &hostless));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// Strings that are sometimes URLs, sometimes almost, sometimes anything.
        fn url_ish() -> impl Strategy<Value = String> {
            prop_oneof![
                "(https?|ftp|x-y|data|urn):(//)?[a-zA-Z0-9.:@\\[\\]%_~/-]{0,30}",
                "https?://[a-z0-9.-]{1,20}(:[0-9]{1,6})?/[ -~]{0,20}",
                ".{0,40}",
            ]
        }

        fn http_url(scheme: &str, host: &str, port: Option<u16>, path: &str) -> Url {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            Url::parse(&format!("{scheme}://{host}{port}/{path}")).unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn authority_never_panics_and_a_url_shares_its_own(
                raw in url_ish(),
                other in url_ish(),
            ) {
                if let Ok(a) = Url::parse(&raw) {
                    let mine = authority(&a);
                    prop_assert_eq!(same_authority(&a, &a), !mine.is_empty());
                    prop_assert_eq!(mine.to_lowercase(), mine.clone());
                    if let Ok(b) = Url::parse(&other) {
                        prop_assert_eq!(same_authority(&a, &b), same_authority(&b, &a));
                    }
                }
            }

            #[test]
            fn authority_keeps_ports_apart_and_ignores_scheme_path_and_case(
                host in "[a-z][a-z0-9]{0,10}(\\.[a-z]{2,5}){0,2}",
                scheme in prop_oneof![Just("http"), Just("https")],
                p in proptest::option::of(any::<u16>()),
                q in proptest::option::of(any::<u16>()),
                path in "[a-z0-9/]{0,12}",
            ) {
                let a = http_url(scheme, &host, p, "x");
                let b = http_url(scheme, &host.to_uppercase(), q, &path);
                // Within one scheme, the same server is the same port, explicit or default.
                prop_assert_eq!(
                    same_authority(&a, &b),
                    a.port_or_known_default() == b.port_or_known_default()
                );
                // A port that is not the default of either scheme is kept whatever the scheme.
                if let Some(p) = p.filter(|p| *p != 80 && *p != 443) {
                    let other = if scheme == "http" { "https" } else { "http" };
                    let c = http_url(other, &host, Some(p), &path);
                    prop_assert!(same_authority(&a, &c));
                    prop_assert_eq!(authority(&c), format!("{host}:{p}"));
                }
            }
        }
    }
}
