//! A Kafka-protocol broker of the test's own (`tansu`, in-memory storage, on a free port;
//! ./test.sh installs it and exports HERALD_TEST_TANSU) and `rskafka` helpers to create topics,
//! produce and read records back.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

/// A tansu broker, killed on drop.
pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
    /// `127.0.0.1:<port>`, for `bootstrapServers`.
    pub addr: String,
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

impl Tansu {
    pub fn start(port: u16) -> Tansu {
        let mut t = Tansu {
            child: None,
            port,
            addr: format!("127.0.0.1:{port}"),
        };
        t.restart();
        t
    }

    /// Starts (again) on the same port; the in-memory storage starts empty.
    pub fn restart(&mut self) {
        self.stop();
        let bin = std::env::var("HERALD_TEST_TANSU").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cargo/bin/tansu")
        });
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tansu ({bin}): {e}; run ./test.sh"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the broker (it stops answering at once).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn client(&self) -> Client {
        ClientBuilder::new(vec![self.addr.clone()])
            .build()
            .await
            .expect("kafka client")
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        rt().block_on(async {
            self.client()
                .await
                .controller_client()
                .expect("controller")
                .create_topic(name, partitions, 1, 5_000)
                .await
                .expect("create topic");
        });
    }

    /// The partition ids of `topic`, empty when it does not exist.
    pub fn partitions(&self, topic: &str) -> Vec<i32> {
        rt().block_on(async {
            let topics = self.client().await.list_topics().await.expect("metadata");
            topics
                .into_iter()
                .find(|t| t.name == topic)
                .map(|t| t.partitions.into_iter().collect())
                .unwrap_or_default()
        })
    }

    /// Produces `records` to one partition, in order, one request each.
    pub fn produce(&self, topic: &str, partition: i32, records: Vec<Record>) {
        for r in records {
            self.produce_batch(topic, partition, vec![r], Compression::NoCompression);
        }
    }

    /// Produces `records` as one record batch compressed with `c`.
    pub fn produce_batch(&self, topic: &str, partition: i32, records: Vec<Record>, c: Compression) {
        rt().block_on(async {
            let p = self
                .client()
                .await
                .partition_client(topic, partition, UnknownTopicHandling::Retry)
                .await
                .expect("partition client");
            p.produce(records, c).await.expect("produce");
        });
    }

    /// Every record of `topic`: (partition, offset, record), by partition then offset.
    pub fn read_all(&self, topic: &str) -> Vec<(i32, i64, Record)> {
        let partitions = self.partitions(topic);
        rt().block_on(async {
            let client = self.client().await;
            let mut out = Vec::new();
            for p in partitions {
                let pc = client
                    .partition_client(topic, p, UnknownTopicHandling::Error)
                    .await
                    .expect("partition client");
                let mut offset = 0;
                loop {
                    let (records, high) = pc
                        .fetch_records(offset, 1..4 * 1024 * 1024, 200)
                        .await
                        .expect("fetch");
                    for r in records {
                        offset = offset.max(r.offset + 1);
                        out.push((p, r.offset, r.record));
                    }
                    if offset >= high {
                        break;
                    }
                }
            }
            out
        })
    }

    /// Waits until `topic` holds at least `n` records, then returns them all.
    pub fn wait_records(
        &self,
        topic: &str,
        n: usize,
        timeout: Duration,
    ) -> Vec<(i32, i64, Record)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.read_all(topic);
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "topic {topic}: wanted {n} records, have {}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A record header as text.
pub fn header<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
    r.headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v).ok())
}
