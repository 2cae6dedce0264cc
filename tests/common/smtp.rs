//! A real SMTP server on loopback for the mail tests: Python's `aiosmtpd`
//! (installed by `scripts/test` into a virtual environment named by
//! `HUMMBL_TEST_SMTP_PYTHON`), delivering into a Maildir the test reads. A test
//! may stop it (an outage) and start it again on the same port.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpServer {
    python: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// One received message, parsed.
pub struct Received {
    pub raw: Vec<u8>,
}

impl Received {
    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("a parsable message")
    }

    pub fn text(&self) -> String {
        self.parsed()
            .body_text(0)
            .map(|text| text.into_owned())
            .unwrap_or_default()
    }

    pub fn html(&self) -> String {
        self.parsed()
            .body_html(0)
            .map(|html| html.into_owned())
            .unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> String {
        self.parsed()
            .header_raw(name)
            .map(|value| value.trim().to_string())
            .unwrap_or_default()
    }

    /// The invitation token in the text part's `/invite/{token}` link.
    pub fn invitation_token(&self) -> String {
        let text = self.text();
        let start = text.find("/invite/").expect("an invitation link") + "/invite/".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }
}

impl SmtpServer {
    /// Starts a server on a free port; `None` (skip) without aiosmtpd, which
    /// under `CI=true` is a failure.
    pub async fn start() -> Option<SmtpServer> {
        let Some(python) = std::env::var("HUMMBL_TEST_SMTP_PYTHON")
            .ok()
            .filter(|path| !path.is_empty())
        else {
            assert!(
                std::env::var("CI").map_or(true, |ci| ci != "true"),
                "CI=true but HUMMBL_TEST_SMTP_PYTHON (aiosmtpd) is not set"
            );
            eprintln!("skipping mail test: aiosmtpd is not installed (scripts/test installs it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = SmtpServer {
            python,
            port,
            dir: tempfile::tempdir().expect("maildir"),
            child: None,
        };
        server.resume().await;
        Some(server)
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, as for a loopback relay.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, and waits until it accepts.
    pub async fn resume(&mut self) {
        let child = Command::new(&self.python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(self.maildir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("aiosmtpd never listened on port {}", self.port);
    }

    /// Stops the server: connections are refused until `resume`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        let mut paths: Vec<PathBuf> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir().join(sub)).ok())
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .collect();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| std::fs::read(path).ok())
            .map(|raw| Received { raw })
            .collect()
    }

    /// Waits (up to `within`) until at least `count` messages arrived.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A configuration change that sends mail through `server`, with short
/// polls and retries.
pub fn mail_to(server: &SmtpServer) -> impl FnOnce(&mut hummbl::config::Config) + '_ {
    move |config| {
        config.smtp_url = Some(server.url().into());
        config.mail_from = "HUMMBL <hummbl@example.com>".into();
        config.workers.mail_poll = Duration::from_millis(50);
        config.workers.mail_retry = hummbl::mail::MailRetry {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(300),
            give_up: Duration::from_secs(3600),
            lease: Duration::from_secs(30),
        };
    }
}
