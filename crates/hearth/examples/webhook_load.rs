//! Load client for `POST /webhooks/{channel}` (the webhook ingest benchmark): `--connections` HTTP/1.1 keep-alive clients
//! on raw TCP send `--requests` Twilio voice status callbacks in all, each with its own CallSid (so none is a
//! duplicate) and a valid `X-Twilio-Signature`, and wait for each answer before the next (closed loop). Prints
//! the throughput and the latency percentiles; any non-2xx answer is counted and makes the exit code 1.
//!
//! `cargo run --release -p hearth --example webhook_load -- --addr 127.0.0.1:8080 --channel voice \
//!     --token-file secret --base-url https://hearth.example.org --connections 64 --requests 50000`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Parser;
use hmac::{Hmac, Mac};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    #[arg(long, default_value = "voice")]
    channel: String,
    /// File holding the channel's Twilio auth token.
    #[arg(long)]
    token_file: String,
    /// The channel's `public_base_url`.
    #[arg(long)]
    base_url: String,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Prefix of the CallSids, so runs against the same journal do not collide.
    #[arg(long, default_value = "CALOAD")]
    prefix: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let token = std::fs::read_to_string(&args.token_file).unwrap().trim_end().to_owned();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let n = args.requests / args.connections + usize::from(c < args.requests % args.connections);
        let (args, token) = (args.clone(), token.clone());
        tasks.push(tokio::spawn(async move { client(&args, &token, c, n).await }));
    }
    let (mut latencies, mut failures) = (Vec::with_capacity(args.requests), 0usize);
    for t in tasks {
        let (l, f) = t.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{} requests over {} connections in {:.2} s: {:.0} req/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} not 2xx",
        latencies.len(),
        args.connections,
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(pct(1.0)),
        failures
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

/// One keep-alive connection sending `n` requests in turn: (latencies, non-2xx count).
async fn client(args: &Args, token: &str, conn: usize, n: usize) -> (Vec<Duration>, usize) {
    let stream = TcpStream::connect(&args.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let path = format!("/webhooks/{}", args.channel);
    let url = format!("{}{path}", args.base_url);
    let (mut latencies, mut failures) = (Vec::with_capacity(n), 0);
    for i in 0..n {
        let body = format!(
            "CallSid={}{conn:04}x{i:08}&CallStatus=completed&Direction=inbound&From=%2B12175550100&To=%2B12175550000&CallDuration=42",
            args.prefix
        );
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             X-Twilio-Signature: {}\r\nContent-Length: {}\r\n\r\n{body}",
            args.addr,
            sign(token, &url, &body),
            body.len()
        );
        let t = Instant::now();
        write.write_all(request.as_bytes()).await.unwrap();
        let status = read_response(&mut read).await;
        latencies.push(t.elapsed());
        failures += usize::from(!(200..300).contains(&status));
    }
    (latencies, failures)
}

fn sign(token: &str, url: &str, body: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    pairs.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    for (k, v) in pairs {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    B64.encode(mac.finalize().into_bytes())
}

/// Reads one response (status line, headers, `Content-Length` body); answers the status code.
async fn read_response(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> u16 {
    let mut line = String::new();
    read.read_line(&mut line).await.unwrap();
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("an HTTP status line");
    let mut length = 0usize;
    loop {
        line.clear();
        read.read_line(&mut line).await.unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    read.read_exact(&mut body).await.unwrap();
    status
}
