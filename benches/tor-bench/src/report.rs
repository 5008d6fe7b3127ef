//! The Markdown report of a [`Report`].

use std::{fmt::Write as _, time::Duration};

use crate::{
    Report,
    bulk::{Bulk, Route},
    dial::Dials,
    handshake::Handshakes,
    stats::{self, Summary},
};

fn secs(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

fn ratio(x: f64) -> String {
    if x >= 0.1 {
        format!("{x:.2}×")
    } else {
        format!("{x:.4}×")
    }
}

fn mb_per_s(bytes_per_s: f64) -> String {
    let mb = bytes_per_s / 1e6;
    if mb >= 100.0 {
        format!("{mb:.0}")
    } else {
        format!("{mb:.2}")
    }
}

/// `f` of the summary of `samples`, or `—` when there are none.
fn cell(samples: &[Duration], f: impl Fn(&Summary) -> String) -> String {
    Summary::of(samples).map_or_else(|| "—".to_owned(), |s| f(&s))
}

/// The whole report as Markdown.
#[must_use]
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    if report.plan.sections.zone {
        zone(&mut out, report);
    }
    if let Some(dials) = &report.dials {
        dial(&mut out, dials);
    }
    if let Some(handshakes) = &report.handshakes {
        handshake(&mut out, handshakes);
    }
    if let Some(bulk) = &report.bulk {
        throughput(&mut out, bulk);
    }
    let errors = report.all_errors();
    if !errors.is_empty() {
        let _ = writeln!(out, "Failures ({}):\n", errors.len());
        for e in &errors {
            let _ = writeln!(out, "- {e}");
        }
        out.push('\n');
    }
    out
}

fn header(out: &mut String, r: &Report) {
    let m = &r.machine;
    let n = &r.network;
    let _ = writeln!(
        out,
        "## Tor zone (issue 5): the private Tor network as the reference\n"
    );
    let _ = writeln!(
        out,
        "Measured {}. Machine: {} cores, {}, Linux {}; {} (Debian), arti-client {}. Load \
         average (1, 5, 15 min) {} at the start, {} at the end. Run: {}, {} zone-ready runs \
         per client, {} samples per dial kind and handshake path, {} bulk rounds of {} MiB; \
         {:.0} s in all.\n",
        m.date,
        m.cores,
        m.cpu,
        m.kernel,
        m.tor,
        crate::machine::ARTI_CLIENT_VERSION,
        m.load,
        r.load_end,
        if r.plan.quick { "quick" } else { "full" },
        r.plan.runs,
        r.plan.samples,
        r.plan.runs,
        r.plan.bulk_bytes >> 20,
        r.elapsed.as_secs_f64(),
    );
    let _ = writeln!(
        out,
        "Private network: {} authorities, {} exits, {} middle relay(s), a client tor and an \
         onion host, all on 127.0.0.1; ready {} s after the start (keys {} s, relays until \
         the consensus listed all {} s, client and onion host {} s; {} attempt(s)).\n",
        n.authorities,
        n.exits,
        n.middles,
        secs(n.start.total),
        secs(n.start.keys),
        secs(n.start.relays),
        secs(n.start.clients),
        n.start.attempts,
    );
}

fn zone(out: &mut String, r: &Report) {
    let system: Vec<_> = r
        .zone_system
        .iter()
        .filter_map(|x| x.as_ref().ok())
        .collect();
    let arti: Vec<_> = r.zone_arti.iter().filter_map(|x| x.as_ref().ok()).collect();
    let _ = writeln!(out, "### Zone ready (seconds)\n");
    let _ = writeln!(out, "| client | phase | median | min | max | runs ok |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|");
    let mut row = |client: &str, phase: &str, samples: &[Duration], total: usize| {
        let _ = writeln!(
            out,
            "| {client} | {phase} | {} | {} | {} | {}/{total} |",
            cell(samples, |s| secs(s.median)),
            cell(samples, |s| secs(s.min)),
            cell(samples, |s| secs(s.max)),
            samples.len(),
        );
    };
    let n = r.zone_system.len();
    row(
        "system tor",
        "fresh client tor until it can build circuits",
        &system.iter().map(|x| x.client).collect::<Vec<_>>(),
        n,
    );
    row(
        "system tor",
        "Umbra's onion service: `ADD_ONION` until published (`HS_DESC UPLOADED`)",
        &system.iter().map(|x| x.service).collect::<Vec<_>>(),
        n,
    );
    let system_total: Vec<_> = system.iter().map(|x| x.total()).collect();
    row("system tor", "**total**", &system_total, n);
    let n = r.zone_arti.len();
    row(
        "arti",
        "bootstrap from fresh state",
        &arti.iter().map(|x| x.bootstrap).collect::<Vec<_>>(),
        n,
    );
    row(
        "arti",
        "Umbra's onion service: launch until arti reported the descriptor uploaded",
        &arti.iter().map(|x| x.service).collect::<Vec<_>>(),
        n,
    );
    let arti_total: Vec<_> = arti.iter().map(|x| x.total()).collect();
    row("arti", "**total**", &arti_total, n);
    if let (Some(a), Some(s)) = (Summary::of(&arti_total), Summary::of(&system_total)) {
        let _ = writeln!(
            out,
            "\narti ÷ system tor, total (medians): {}.",
            ratio(a.median.as_secs_f64() / s.median.as_secs_f64())
        );
    }
    let current_only = arti
        .iter()
        .filter(|x| x.published == crate::arti_host::Published::CurrentPeriodOnly)
        .count();
    if current_only > 0 {
        let _ = writeln!(
            out,
            "In {current_only} of {} arti runs the service ended in arti's state \
             `DegradedUnreachable` with no upload problem: descriptor on the current time \
             period's HSDirs only, as this network allows.",
            arti.len()
        );
    }
    if let Some(Ok(took)) = &r.arti_bootstrap {
        let _ = writeln!(
            out,
            "The arti client used below bootstrapped in {} s.",
            secs(*took)
        );
    }
    out.push('\n');
}

fn dial(out: &mut String, d: &Dials) {
    let _ = writeln!(
        out,
        "### Connection set-up to an onion service (milliseconds)\n"
    );
    let _ = writeln!(
        out,
        "| client | cold dial, median | cold dial, p90 | first round trip, median | warm dial, median | warm dial, p90 | round trip, median | round trip, p90 | samples cold / warm |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &d.clients {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} |",
            c.name,
            cell(&c.cold_dial, |s| ms(s.median)),
            cell(&c.cold_dial, |s| ms(s.p90)),
            cell(&c.cold_rtt, |s| ms(s.median)),
            cell(&c.warm_dial, |s| ms(s.median)),
            cell(&c.warm_dial, |s| ms(s.p90)),
            cell(&c.warm_rtt, |s| ms(s.median)),
            cell(&c.warm_rtt, |s| ms(s.p90)),
            c.cold_dial.len(),
            c.warm_dial.len(),
        );
    }
    out.push('\n');
    let publish = [
        (
            "C tor (the onion host, `ADD_ONION` until `HS_DESC UPLOADED`)",
            &d.publish_system,
        ),
        (
            "arti (launch until arti reported the descriptor uploaded)",
            &d.publish_arti,
        ),
    ];
    for (host, samples) in publish {
        if let Some(p) = Summary::of(samples) {
            let _ = writeln!(
                out,
                "- {} echo services published by {host}: {} s median ({} – {} s).",
                p.n,
                secs(p.median),
                secs(p.min),
                secs(p.max)
            );
        }
    }
    out.push('\n');
}

fn handshake(out: &mut String, h: &Handshakes) {
    let _ = writeln!(out, "### Monero handshake with monerod (milliseconds)\n");
    let _ = writeln!(
        out,
        "| path | first dial | first handshake | dial, median | dial, p90 | handshake, median | handshake, p90 | total, median | total, p90 | samples | total ÷ direct TCP | round trips: 2 (support flags asked) / all |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let direct = h
        .paths
        .first()
        .and_then(|p| Summary::of(&p.total))
        .map(|s| s.median);
    for p in &h.paths {
        let (first_dial, first_shake) =
            p.cold.map_or(("—".to_owned(), "—".to_owned()), |(d, s)| {
                (ms(d), ms(s))
            });
        let vs = match (Summary::of(&p.total), direct) {
            (Some(t), Some(d)) if !d.is_zero() => ratio(t.median.as_secs_f64() / d.as_secs_f64()),
            _ => "—".to_owned(),
        };
        let _ = writeln!(
            out,
            "| {} | {first_dial} | {first_shake} | {} | {} | {} | {} | {} | {} | {} | {vs} | {}/{} |",
            p.name,
            cell(&p.dial, |s| ms(s.median)),
            cell(&p.dial, |s| ms(s.p90)),
            cell(&p.handshake, |s| ms(s.median)),
            cell(&p.handshake, |s| ms(s.p90)),
            cell(&p.total, |s| ms(s.median)),
            cell(&p.total, |s| ms(s.p90)),
            p.total.len(),
            p.support_flags_asked,
            p.total.len() + usize::from(p.cold.is_some()),
        );
    }
    out.push('\n');
}

fn throughput(out: &mut String, b: &Bulk) {
    let _ = writeln!(
        out,
        "### Bulk throughput, {} MiB per transfer (MB/s = 10⁶ bytes/s)\n",
        b.bytes >> 20
    );
    let _ = writeln!(
        out,
        "| route | relays | MB/s, median | min | max | ÷ direct TCP | stream open, median ms | cores used: tors + this process / whole machine, median | runs ok |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let rates = |route: Route| -> Vec<f64> {
        b.routes
            .iter()
            .find(|r| r.route == route)
            .map(|r| {
                r.transfer
                    .iter()
                    .map(|t| stats::rate(b.bytes, *t))
                    .collect()
            })
            .unwrap_or_default()
    };
    let median_of = |route: Route| stats::median(&rates(route));
    let direct = median_of(Route::Direct);
    for r in &b.routes {
        let rs = rates(r.route);
        let med = stats::median(&rs);
        let min = rs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rs.iter().copied().fold(0.0, f64::max);
        let vs = match (med, direct) {
            (Some(m), Some(d)) if d > 0.0 => ratio(m / d),
            _ => "—".to_owned(),
        };
        let total = r.transfer.len()
            + r.errors
                .iter()
                .filter(|e| !e.starts_with("warm-up"))
                .count();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {vs} | {} | {} | {}/{total} |",
            r.route.name(),
            r.route.hops(),
            med.map_or_else(|| "—".to_owned(), mb_per_s),
            if rs.is_empty() {
                "—".to_owned()
            } else {
                mb_per_s(min)
            },
            if rs.is_empty() {
                "—".to_owned()
            } else {
                mb_per_s(max)
            },
            cell(&r.open, |s| ms(s.median)),
            match (stats::median(&r.cores_ours), stats::median(&r.cores_busy)) {
                (Some(ours), Some(all)) => format!("{ours:.2} / {all:.2}"),
                _ => "—".to_owned(),
            },
            r.transfer.len(),
        );
    }
    let pairs = [
        (
            "system tor: onion service ÷ exit",
            Route::SystemOnion,
            Route::SystemExit,
        ),
        (
            "arti: onion service ÷ exit",
            Route::ArtiOnion,
            Route::ArtiExit,
        ),
        (
            "exit: arti ÷ system tor",
            Route::ArtiExit,
            Route::SystemExit,
        ),
        (
            "onion service: arti ÷ system tor",
            Route::ArtiOnion,
            Route::SystemOnion,
        ),
    ];
    let _ = writeln!(out);
    for (name, a, b) in pairs {
        if let (Some(x), Some(y)) = (median_of(a), median_of(b))
            && y > 0.0
        {
            let _ = writeln!(out, "- {name}: {}", ratio(x / y));
        }
    }
    out.push('\n');
}
