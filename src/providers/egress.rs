//! The provider egress policy: where a provider call may go.
//!
//! A provider key is sent to whatever its base URL names, and part of the
//! answer is shown back, so a base URL pointing inside the network would turn
//! HUMMBL into a proxy for reading internal services (SSRF). The policy:
//!
//! - link-local and cloud-metadata addresses are never called, even when listed:
//!   nothing a provider needs lives there, and a metadata service hands out the
//!   host's cloud credentials;
//! - loopback, private, CGNAT, unspecified, multicast and reserved addresses are
//!   called only when listed in `provider_allowed_hosts` (a local Ollama or vLLM);
//! - everything else (the public internet) is allowed.
//!
//! It is enforced on every call, not only when a key is saved, and on the
//! addresses a name *resolves to* ([`CheckingResolver`]), so a public name that
//! resolves to 127.0.0.1 (DNS rebinding) is refused too. IP literals never reach
//! a resolver, so [`EgressPolicy::check_url`] judges them before sending.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The configuration key (and its environment variable) that lists exceptions.
pub const ALLOWED_HOSTS_KEY: &str = "provider_allowed_hosts (HUMMBL_PROVIDER_ALLOWED_HOSTS)";

/// Host names that are cloud-metadata services whatever they resolve to.
const METADATA_NAMES: [&str; 1] = ["metadata.google.internal"];

/// Hosts listed in `provider_allowed_hosts`: exact host names (any case) and
/// IP networks (a single address is a /32 or /128).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    names: Vec<String>,
    networks: Vec<IpNet>,
}

/// An entry of `provider_allowed_hosts` that is none of: host name, IP, CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "provider_allowed_hosts entry {0:?} is not a host name, an IP address or a CIDR \
     (like localhost, 127.0.0.1, ::1 or 10.0.0.0/8)"
)]
pub struct BadAllowedHost(pub String);

impl AllowedHosts {
    /// Parses the entries of the config file's array.
    pub fn parse<S: AsRef<str>>(
        entries: impl IntoIterator<Item = S>,
    ) -> Result<AllowedHosts, BadAllowedHost> {
        let mut allowed = AllowedHosts::default();
        for entry in entries {
            allowed.add(entry.as_ref())?;
        }
        Ok(allowed)
    }

    /// Parses the environment's comma-separated list; empty items are skipped,
    /// so a trailing comma is harmless.
    pub fn parse_comma_list(text: &str) -> Result<AllowedHosts, BadAllowedHost> {
        AllowedHosts::parse(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.networks.is_empty()
    }

    fn add(&mut self, entry: &str) -> Result<(), BadAllowedHost> {
        let bad = || BadAllowedHost(entry.to_string());
        let text = entry.trim();
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            self.networks.push(IpNet::from(ip));
        } else if text.contains('/') {
            // Host bits are dropped: 10.1.2.3/8 means 10.0.0.0/8, as elsewhere.
            self.networks
                .push(text.parse::<IpNet>().map_err(|_| bad())?.trunc());
        } else if is_host_name(text) {
            self.names.push(normalized_name(text));
        } else {
            return Err(bad());
        }
        Ok(())
    }

    fn allows_name(&self, host: &str) -> bool {
        let host = normalized_name(host);
        self.names.contains(&host)
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|network| network.contains(&ip))
    }
}

/// Letters, digits, hyphens and dots, in labels of 1 to 63 characters: what a
/// DNS name (or `/etc/hosts` entry) can be. URLs, ports and wildcards are not.
fn is_host_name(text: &str) -> bool {
    let text = text.strip_suffix('.').unwrap_or(text);
    !text.is_empty()
        && text.len() <= 253
        && text.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// Lower case, without the root's trailing dot (`LocalHost.` is `localhost`).
fn normalized_name(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Where an address sits, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    /// Allowed only when listed; the words say what it is.
    Internal(&'static str),
    /// Never allowed.
    Forbidden(&'static str),
}

fn classify(ip: IpAddr) -> Class {
    match canonical(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

const LINK_LOCAL: &str = "a link-local address";
const METADATA: &str = "a cloud-metadata address";

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Class::Forbidden(METADATA)
    } else if ip.is_link_local() {
        Class::Forbidden(LINK_LOCAL)
    } else if ip.is_loopback() {
        Class::Internal("a loopback address")
    } else if ip.is_private() {
        Class::Internal("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Class::Internal("a carrier-grade NAT address")
    } else if a == 0 {
        Class::Internal("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Class::Internal("a multicast, broadcast or reserved address")
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., a, b, c, d] = ip.octets();
        return classify_v4(Ipv4Addr::new(a, b, c, d));
    }
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        Class::Forbidden(METADATA)
    } else if first & 0xffc0 == 0xfe80 {
        Class::Forbidden(LINK_LOCAL)
    } else if ip.is_loopback() {
        Class::Internal("a loopback address")
    } else if ip.is_unspecified() {
        Class::Internal("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        Class::Internal("a private address")
    } else if ip.is_multicast() {
        Class::Internal("a multicast, broadcast or reserved address")
    } else {
        Class::Public
    }
}

/// Why a destination is refused. The messages say it is the egress policy and
/// name the config key, so whoever reads them knows what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{target} is {kind}, not allowed by the egress policy, which never allows it \
         (listing it in {ALLOWED_HOSTS_KEY} does not change that)"
    )]
    Always { target: String, kind: &'static str },
    #[error(
        "{target} is {kind}, not allowed by the egress policy; to call a provider there, \
         list it in {ALLOWED_HOSTS_KEY}"
    )]
    NotListed { target: String, kind: &'static str },
    /// Provider APIs answer, they do not redirect: see [`refuse_redirects`].
    #[error(
        "the provider answered with a redirect to {0}, not allowed by the egress policy: \
         provider calls do not follow redirects, so set the base URL to where the API is"
    )]
    Redirect(String),
}

/// The policy with its exceptions; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Arc<AllowedHosts>,
}

impl EgressPolicy {
    pub fn new(allowed: AllowedHosts) -> EgressPolicy {
        EgressPolicy {
            allowed: Arc::new(allowed),
        }
    }

    /// What can be judged from the URL alone: an IP-literal host (which no
    /// resolver sees) and the metadata names. Other names pass here and are
    /// judged by the addresses they resolve to.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) => self.check_address(None, IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_address(None, IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => self.check_name(name),
            None => Ok(()),
        }
    }

    fn check_name(&self, name: &str) -> Result<(), Refused> {
        let name = normalized_name(name);
        if METADATA_NAMES.contains(&name.as_str()) {
            return Err(Refused::Always {
                target: name,
                kind: "a cloud-metadata host",
            });
        }
        Ok(())
    }

    /// An address to connect to, reached through `name` when one was resolved.
    fn check_address(&self, name: Option<&str>, ip: IpAddr) -> Result<(), Refused> {
        let target = match name {
            Some(name) => format!("{name} ({ip})"),
            None => ip.to_string(),
        };
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Forbidden(kind) => Err(Refused::Always { target, kind }),
            Class::Internal(kind) => {
                let listed =
                    self.allowed.allows_ip(ip) || name.is_some_and(|n| self.allowed.allows_name(n));
                if listed {
                    Ok(())
                } else {
                    Err(Refused::NotListed { target, kind })
                }
            }
        }
    }

    /// The addresses of `name` the policy allows; refused when none is.
    fn filter_resolved(
        &self,
        name: &str,
        resolved: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        self.check_name(name)?;
        let mut refusal = None;
        let allowed: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|addr| match self.check_address(Some(name), addr.ip()) {
                Ok(()) => true,
                Err(refused) => {
                    refusal.get_or_insert(refused);
                    false
                }
            })
            .collect();
        match refusal {
            Some(refused) if allowed.is_empty() => Err(refused),
            _ => Ok(allowed),
        }
    }

    /// The resolver for the provider client: the system's, then this policy.
    pub fn resolver(&self) -> CheckingResolver {
        CheckingResolver {
            policy: self.clone(),
        }
    }
}

/// Resolves with the system resolver (through Tokio) and keeps only the
/// addresses the policy allows, so the connection can only be made to those.
pub struct CheckingResolver {
    policy: EgressPolicy,
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let allowed = policy.filter_resolved(&name, resolved)?;
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The redirect policy of provider calls: none is followed. Provider APIs do
/// not redirect, so a redirect means a wrong base URL or a server steering the
/// call elsewhere; following it would send the request (and, on the same host,
/// the key) somewhere nobody typed, past the check of the typed address.
pub fn refuse_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let to = attempt
            .url()
            .host_str()
            .unwrap_or("another place")
            .to_string();
        attempt.error(Refused::Redirect(to))
    })
}

/// The policy's refusal inside a reqwest error (from the resolver or the
/// redirect policy), if that is why the call failed.
pub fn refusal_in(error: &(dyn std::error::Error + 'static)) -> Option<Refused> {
    let mut current = Some(error);
    while let Some(cause) = current {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused.clone());
        }
        current = cause.source();
    }
    None
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = self.names.iter().map(String::as_str).map(str::to_string);
        let networks = self.networks.iter().map(ToString::to_string);
        let all: Vec<String> = names.chain(networks).collect();
        f.write_str(&all.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn policy(entries: &[&str]) -> EgressPolicy {
        EgressPolicy::new(AllowedHosts::parse(entries).expect("valid entries"))
    }

    #[test]
    fn entries_are_names_addresses_or_networks() {
        let allowed = AllowedHosts::parse([
            "LocalHost",
            "ollama.internal.",
            "127.0.0.1",
            "::1",
            "10.1.2.3/8",
            "[fd12::1]",
        ])
        .expect("valid");
        assert!(allowed.allows_name("localhost"));
        assert!(allowed.allows_name("OLLAMA.internal"));
        assert!(!allowed.allows_name("other.internal"));
        assert!(allowed.allows_ip(ip("127.0.0.1")));
        assert!(!allowed.allows_ip(ip("127.0.0.2")));
        assert!(allowed.allows_ip(ip("::1")));
        assert!(
            allowed.allows_ip(ip("10.200.0.9")),
            "the network, host bits dropped"
        );
        assert!(
            allowed.allows_ip(ip("::ffff:10.0.0.1")),
            "an IPv4-mapped form"
        );
        assert!(allowed.allows_ip(ip("fd12::1")));
        assert_eq!(
            allowed.to_string(),
            "localhost,ollama.internal,127.0.0.1/32,::1/128,10.0.0.0/8,fd12::1/128"
        );
    }

    #[test]
    fn bad_entries_are_refused_by_name() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "http://localhost",
            "localhost:11434",
            "*.internal",
            "",
            "-a.b",
        ] {
            assert_eq!(
                AllowedHosts::parse([bad]),
                Err(BadAllowedHost(bad.to_string())),
                "{bad}"
            );
        }
        let message = BadAllowedHost("10.0.0.0/33".into()).to_string();
        assert!(
            message.contains("provider_allowed_hosts") && message.contains("CIDR"),
            "{message}"
        );
    }

    #[test]
    fn the_environment_list_is_comma_separated() {
        let allowed =
            AllowedHosts::parse_comma_list(" localhost, 127.0.0.1 ,,10.0.0.0/8,").expect("valid");
        assert_eq!(
            allowed,
            AllowedHosts::parse(["localhost", "127.0.0.1", "10.0.0.0/8"]).expect("valid")
        );
        assert!(
            AllowedHosts::parse_comma_list("")
                .expect("empty")
                .is_empty()
        );
        assert!(AllowedHosts::parse_comma_list("localhost,10.0.0.0/99").is_err());
    }

    #[test]
    fn addresses_are_classified() {
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "2606:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(classify(ip(public)), Class::Public, "{public}");
        }
        for internal in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "fc00::1",
            "fd12:3456::1",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "::",
            "224.0.0.1",
            "255.255.255.255",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(
                matches!(classify(ip(internal)), Class::Internal(_)),
                "{internal}"
            );
        }
        for forbidden in [
            "169.254.169.254",
            "169.254.0.1",
            "fe80::1",
            "febf::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(
                matches!(classify(ip(forbidden)), Class::Forbidden(_)),
                "{forbidden}"
            );
        }
    }

    #[test]
    fn internal_addresses_need_listing_and_forbidden_ones_never_pass() {
        let none = policy(&[]);
        let url = |text: &str| url::Url::parse(text).expect("url");
        assert!(none.check_url(&url("https://api.openai.com/v1")).is_ok());
        assert!(none.check_url(&url("http://8.8.8.8/v1")).is_ok());
        let refused = none
            .check_url(&url("http://127.0.0.1:11434/v1"))
            .expect_err("loopback");
        assert!(matches!(refused, Refused::NotListed { .. }));
        assert!(
            refused.to_string().contains("provider_allowed_hosts"),
            "{refused}"
        );
        assert!(
            none.check_url(&url("http://[::ffff:7f00:1]/")).is_err(),
            "mapped loopback"
        );
        assert!(
            none.check_url(&url("http://2130706433/")).is_err(),
            "127.0.0.1 as a number"
        );

        let generous = policy(&[
            "127.0.0.0/8",
            "169.254.0.0/16",
            "fe80::/10",
            "metadata.google.internal",
        ]);
        assert!(
            generous
                .check_url(&url("http://127.0.0.1:11434/v1"))
                .is_ok()
        );
        for never in [
            "http://169.254.169.254/",
            "http://[fe80::1]/",
            "http://metadata.google.internal/",
            "http://METADATA.google.internal./",
        ] {
            assert!(
                matches!(generous.check_url(&url(never)), Err(Refused::Always { .. })),
                "{never}"
            );
        }
    }

    #[test]
    fn resolved_addresses_are_filtered_and_listed_names_pass() {
        let at = |text: &str| SocketAddr::new(ip(text), 0);
        let none = policy(&[]);
        assert!(matches!(
            none.filter_resolved("rebound.example", [at("127.0.0.1")]),
            Err(Refused::NotListed { .. })
        ));
        assert_eq!(
            none.filter_resolved("mixed.example", [at("10.0.0.1"), at("93.184.215.14")]),
            Ok(vec![at("93.184.215.14")]),
            "only the allowed addresses are kept"
        );
        let by_name = policy(&["localhost"]);
        assert_eq!(
            by_name.filter_resolved("LOCALHOST", [at("127.0.0.1"), at("::1")]),
            Ok(vec![at("127.0.0.1"), at("::1")])
        );
        assert!(
            by_name
                .filter_resolved("localhost", [at("169.254.169.254")])
                .is_err(),
            "a listed name never reaches a forbidden address"
        );
        let other_loopback = policy(&["127.0.0.2"]);
        assert!(
            other_loopback
                .filter_resolved("localhost", [at("127.0.0.1")])
                .is_err()
        );
    }
}
