//! Data-plane counters (DP-55), rendered in the Prometheus text format at
//! `GET /_herald/metrics` on the ingress listener.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($field:ident => $name:literal, $help:literal;)*) => {
        /// Process-wide counters; cheap relaxed atomics on the hot path.
        #[derive(Debug, Default)]
        pub struct Metrics { $(pub $field: AtomicU64,)* }

        impl Metrics {
            /// The counters in Prometheus text exposition format.
            pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
                let mut out = String::new();
                $(
                    let _ = writeln!(out, "# HELP {} {}\n# TYPE {} counter\n{} {}",
                        $name, $help, $name, $name, self.$field.load(Relaxed));
                )*
                for (name, help, value) in extra {
                    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
                }
                out
            }
        }
    };
}

counters! {
    accepted => "herald_ingress_events_accepted_total", "Events acknowledged with 202 (durable when the broker is).";
    rejected => "herald_ingress_requests_rejected_total", "Ingress requests answered with a 4xx.";
    shed => "herald_ingress_requests_shed_total", "Ingress requests answered 429/503 because the log could not accept them.";
    delivered => "herald_dispatch_events_delivered_total", "Events a subscriber acknowledged with 2xx.";
    filtered => "herald_dispatch_events_unmatched_total", "Events no trigger's filter matched (counted by the router).";
    retries => "herald_dispatch_retries_total", "Delivery attempts after the first.";
    dead_lettered => "herald_dispatch_events_dead_lettered_total", "Events delivered to a dead-letter sink.";
    dropped => "herald_dispatch_events_dropped_total", "Events that failed delivery with no (working) dead-letter sink.";
    replies => "herald_dispatch_replies_total", "Reply events stored back into their broker.";
    eventtypes_refused => "herald_eventtypes_autocreate_refused_total", "EventTypes not auto-created because the namespace reached its limit.";
    undecodable => "herald_dispatch_undecodable_records_total", "Log records the dispatcher could not decode.";
}

pub fn inc(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}
