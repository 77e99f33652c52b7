//! A fault-injecting TCP proxy for loopback: it sits between a client and a
//! real server (DynamoDB Local, Redis) and, with seeded probabilities, drops
//! a response after the server has applied the request, resets a connection
//! before a request reaches the server, or holds a response back for longer
//! than the client's timeout. Bytes are forwarded as they come: a fault hits
//! whatever request or response the chunk belongs to.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Which faults the proxy injects, each a probability per forwarded chunk.
#[derive(Debug, Clone, Copy)]
pub struct NetFaults {
    /// Read the server's response, then close both sides without sending it:
    /// the request was applied, the client never learns.
    pub drop_response: f64,
    /// Close both sides instead of forwarding a request chunk (nothing, or
    /// only part of a request, reaches the server).
    pub reset_request: f64,
    /// Hold a response back for `delay` before forwarding it.
    pub delay_response: f64,
    /// How long a held-back response waits (longer than the client's
    /// attempt timeout, so the client gives up and retries).
    pub delay: Duration,
    /// Seed of the generator, so a failing run can be replayed.
    pub seed: u64,
}

/// What the proxy injected so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Injected {
    /// Responses dropped after the server applied the request.
    pub dropped: usize,
    /// Connections reset before a request reached the server.
    pub reset: usize,
    /// Responses held back past the client's timeout.
    pub delayed: usize,
}

impl Injected {
    /// All faults.
    pub fn total(&self) -> usize {
        self.dropped + self.reset + self.delayed
    }
}

#[derive(Default)]
struct Counters {
    dropped: AtomicUsize,
    reset: AtomicUsize,
    delayed: AtomicUsize,
}

struct Shared {
    faults: NetFaults,
    on: AtomicBool,
    draws: AtomicU64,
    counters: Counters,
}

impl Shared {
    /// A uniform draw in `[0, 1)`: splitmix64 of the seed and a counter, so
    /// concurrent connections draw without a lock.
    fn draw(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        let mut z = self
            .faults
            .seed
            .wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, faults: NetFaults) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            faults,
            on: AtomicBool::new(true),
            draws: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let accept = {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let shared = Arc::clone(&shared);
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(upstream).await {
                            connection(client, server, shared).await;
                        }
                    });
                }
            })
        };
        Ok(FaultProxy {
            addr,
            shared,
            accept,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Turns faults on or off; bytes keep flowing either way.
    pub fn set_faults(&self, on: bool) {
        self.shared.on.store(on, Ordering::SeqCst);
    }

    /// What was injected so far.
    pub fn injected(&self) -> Injected {
        let c = &self.shared.counters;
        Injected {
            dropped: c.dropped.load(Ordering::SeqCst),
            reset: c.reset.load(Ordering::SeqCst),
            delayed: c.delayed.load(Ordering::SeqCst),
        }
    }
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("faults", &self.shared.faults)
            .field("injected", &self.injected())
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn connection(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Whichever direction ends (or injects a fault) ends the connection:
    // both sockets are dropped with this task.
    tokio::select! {
        () = pump(client_read, server_write, &shared, Direction::Request) => {}
        () = pump(server_read, client_write, &shared, Direction::Response) => {}
    }
}

#[derive(Clone, Copy)]
enum Direction {
    Request,
    Response,
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared, dir: Direction) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if shared.on.load(Ordering::SeqCst) {
            let roll = shared.draw();
            let f = &shared.faults;
            let c = &shared.counters;
            match dir {
                Direction::Request if roll < f.reset_request => {
                    c.reset.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Direction::Response if roll < f.drop_response => {
                    c.dropped.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                Direction::Response if roll < f.drop_response + f.delay_response => {
                    c.delayed.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(f.delay).await;
                }
                _ => {}
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
