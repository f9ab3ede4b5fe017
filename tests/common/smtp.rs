#![allow(dead_code)]

//! A real SMTP server on 127.0.0.1 (mailin-embedded) that keeps what it receives, and
//! a "silent" one that accepts connections and never says a word.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use mailin_embedded::{Handler, Server, SslConfig, response};

/// One delivered message.
#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's value (first occurrence), unfolded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut lines = head.split("\r\n").peekable();
        while let Some(l) = lines.next() {
            if let Some(v) = l.strip_prefix(&format!("{name}: ")) {
                let mut v = v.to_owned();
                while lines.peek().is_some_and(|n| n.starts_with([' ', '\t'])) {
                    v.push_str(lines.next().unwrap_or_default());
                }
                return Some(v);
            }
        }
        None
    }

    /// The body, with quoted-printable soft breaks and escapes undone.
    pub fn body(&self) -> String {
        let body = self.data.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let mut out = Vec::new();
        let bytes = body.replace("=\r\n", "").into_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                if let Ok(b) =
                    u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16)
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

#[derive(Clone)]
struct Keeper {
    store: Arc<Mutex<Vec<Received>>>,
    current: Received,
}

impl Handler for Keeper {
    /// A mailbox with "refused" in its name does not exist here (550), as a relay
    /// refuses an unknown recipient.
    fn rcpt(&mut self, to: &str) -> mailin_embedded::Response {
        if to.contains("refused") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.current = Received {
            from: from.to_owned(),
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        if let Ok(mut s) = self.store.lock() {
            s.push(std::mem::take(&mut self.current));
        }
        response::OK
    }
}

/// A running SMTP server and what it has received.
pub struct Smtp {
    pub addr: SocketAddr,
    store: Arc<Mutex<Vec<Received>>>,
}

impl Smtp {
    pub fn start() -> Smtp {
        Smtp::start_with(SslConfig::None)
    }

    /// A server offering STARTTLS with this certificate and key (PEM files).
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Smtp {
        Smtp::start_with(SslConfig::SelfSigned {
            cert_path: cert.display().to_string(),
            key_path: key.display().to_string(),
        })
    }

    fn start_with(ssl: SslConfig) -> Smtp {
        // Test builds enable two rustls providers (ring through lettre, aws-lc-rs
        // through mailin-embedded); the server needs one named.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let store = Arc::new(Mutex::new(Vec::new()));
        let handler = Keeper {
            store: store.clone(),
            current: Received::default(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("test.smtp")
            .with_ssl(ssl)
            .expect("TLS settings")
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Smtp { addr, store }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn messages(&self) -> Vec<Received> {
        self.store.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Accepts TCP connections and never answers (a dead relay).
pub struct Silent {
    pub addr: SocketAddr,
    pub accepted: Arc<Mutex<Vec<TcpStream>>>,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let keep = accepted.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                if let Ok(mut k) = keep.lock() {
                    k.push(s);
                }
            }
        });
        Silent { addr, accepted }
    }

    pub fn connections(&self) -> usize {
        self.accepted.lock().map(|a| a.len()).unwrap_or(0)
    }
}
