//! Connection set-up to an onion service: the first dial of a client to a service it has
//! never reached (cold: descriptor fetch, introduction, rendezvous) and later dials to one it
//! already reached (warm: a new stream on the open rendezvous circuit), each followed by a
//! 1-byte round trip. For reference, the same through an exit to the echo server: the
//! first stream (a new circuit, unless the client had one ready) and later ones.

use std::{net::SocketAddr, time::Duration};

use tokio::runtime::Runtime;
use umbra_test_kit::tor_net::{OnionService, TorNetwork};
use umbra_transport::{
    Transport,
    tor::{SystemTor, TorAddr, arti::ArtiTor},
};

use crate::{
    Progress,
    arti_host::{self, HostedService},
    clients, servers, timed, within,
    zone::PUBLISH_TIMEOUT,
};

/// The virtual port the echo services are published on.
pub const ECHO_PORT: u16 = 7;
/// Bound on one dial (the transports have their own 60 s connect timeouts).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(150);
/// Bound on one round trip.
pub const RTT_TIMEOUT: Duration = Duration::from_secs(30);

/// The samples of one client.
#[derive(Debug, Clone, Default)]
pub struct ClientDials {
    /// The client (`system tor`, `arti`).
    pub name: String,
    /// First dials, one per service.
    pub cold_dial: Vec<Duration>,
    /// The round trip right after each first dial.
    pub cold_rtt: Vec<Duration>,
    /// Later dials to one service.
    pub warm_dial: Vec<Duration>,
    /// The round trip after each warm dial.
    pub warm_rtt: Vec<Duration>,
    /// Failed samples.
    pub errors: Vec<String>,
}

/// Everything the dial measurement found.
#[derive(Debug, Clone, Default)]
pub struct Dials {
    /// C tor's echo services (on the network's onion host): from `ADD_ONION` until the
    /// descriptor was uploaded (the test kit's [`OnionService::published_in`]).
    pub publish_system: Vec<Duration>,
    /// arti's echo services: from launch until arti reported the descriptor uploaded.
    pub publish_arti: Vec<Duration>,
    /// One entry per client.
    pub clients: Vec<ClientDials>,
    /// Services that could not be published.
    pub errors: Vec<String>,
}

/// Dials `addr` and does one round trip: (dial time, round-trip time).
async fn dial_and_ping<T: Transport<Addr = TorAddr>>(
    tor: &T,
    addr: &TorAddr,
) -> Result<(Duration, Duration), String> {
    let (dialled, dial) = timed(within(DIAL_TIMEOUT, "dial", Box::pin(tor.dial(addr)))).await;
    let (mut reader, mut writer) = dialled?;
    let rtt = within(
        RTT_TIMEOUT,
        "round trip",
        servers::round_trip(&mut reader, &mut writer),
    )
    .await?;
    Ok((dial, rtt))
}

/// Opens a stream through an exit to `echo` and does one round trip: (open, round trip).
async fn exit_and_ping(
    system: Option<&SystemTor>,
    arti: Option<&ArtiTor>,
    echo: SocketAddr,
) -> Result<(Duration, Duration), String> {
    let started = std::time::Instant::now();
    let rtt = if let Some(system) = system {
        let (mut r, mut w) = within(DIAL_TIMEOUT, "connect", system.connect_socket(echo)).await?;
        let open = started.elapsed();
        let rtt = within(
            RTT_TIMEOUT,
            "round trip",
            servers::round_trip(&mut r, &mut w),
        )
        .await?;
        (open, rtt)
    } else if let Some(arti) = arti {
        let stream = within(DIAL_TIMEOUT, "connect", Box::pin(arti.connect_socket(echo))).await?;
        let open = started.elapsed();
        let (mut r, mut w) = stream.split();
        let rtt = within(
            RTT_TIMEOUT,
            "round trip",
            servers::round_trip(&mut r, &mut w),
        )
        .await?;
        (open, rtt)
    } else {
        return Err("no client".to_owned());
    };
    Ok(rtt)
}

/// `samples + 1` streams through an exit to `echo` for one client: the first counts as
/// cold, the others as warm.
async fn exit_samples(
    system: Option<&SystemTor>,
    arti: Option<&ArtiTor>,
    echo: SocketAddr,
    samples: usize,
    out: &mut ClientDials,
) {
    for i in 0..=samples {
        match exit_and_ping(system, arti, echo).await {
            Ok((open, rtt)) if i == 0 => {
                out.cold_dial.push(open);
                out.cold_rtt.push(rtt);
            }
            Ok((open, rtt)) => {
                out.warm_dial.push(open);
                out.warm_rtt.push(rtt);
            }
            Err(e) => out.errors.push(format!("through an exit, sample {i}: {e}")),
        }
    }
}

/// Which client dials.
#[derive(Debug, Clone, Copy)]
enum Client {
    /// The network's C tor client through [`SystemTor`].
    System,
    /// The embedded arti client.
    Arti,
}

/// Who hosts the onion service dialled.
#[derive(Debug, Clone, Copy)]
enum Host {
    /// The network's onion host (C tor, `ADD_ONION`).
    CTor,
    /// An arti client ([`arti_host`]).
    Arti,
}

/// One sample of one client; `cold` picks which lists it goes to.
async fn sample<T: Transport<Addr = TorAddr>>(
    tor: &T,
    addr: &TorAddr,
    out: &mut ClientDials,
    cold: bool,
) {
    match dial_and_ping(tor, addr).await {
        Ok((dial, rtt)) if cold => {
            out.cold_dial.push(dial);
            out.cold_rtt.push(rtt);
        }
        Ok((dial, rtt)) => {
            out.warm_dial.push(dial);
            out.warm_rtt.push(rtt);
        }
        Err(e) => out.errors.push(format!(
            "{} dial to {addr}: {e}",
            if cold { "cold" } else { "warm" }
        )),
    }
}

/// Publishes `samples` echo services (each forwarding to `echo`) on the network's onion
/// host (C tor) and `samples` on `host` (arti); each client (system tor, arti) dials each
/// service of each host once (cold, the four client/host pairs taking turns at going
/// first), then the first service of each host `samples` more times (warm). The services
/// are removed at the end.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    rt: &Runtime,
    net: &TorNetwork,
    system: &SystemTor,
    arti: &ArtiTor,
    host: &ArtiTor,
    echo: SocketAddr,
    samples: usize,
    progress: Progress<'_>,
) -> Dials {
    let mut out = Dials::default();
    let mut system_services: Vec<(OnionService, TorAddr)> = Vec::new();
    for i in 0..samples {
        match net.add_onion_service(ECHO_PORT, echo) {
            Ok(service) => match clients::onion_addr(&service) {
                Ok(addr) => {
                    out.publish_system.push(service.published_in);
                    system_services.push((service, TorAddr::Onion(addr)));
                }
                Err(e) => out.errors.push(e),
            },
            Err(e) => out
                .errors
                .push(format!("publishing C tor echo service {i}: {e}")),
        }
    }
    let arti_services: Vec<(HostedService, TorAddr)> = rt.block_on(async {
        let mut services = Vec::new();
        for i in 0..samples {
            let launched = arti_host::launch(host.client(), &format!("echo{i}"), ECHO_PORT, echo);
            let service = match launched {
                Ok(service) => service,
                Err(e) => {
                    out.errors.push(format!("arti echo service {i}: {e}"));
                    continue;
                }
            };
            match service.wait_published(PUBLISH_TIMEOUT).await {
                Ok((took, _)) => {
                    out.publish_arti.push(took);
                    let addr = TorAddr::Onion(service.onion);
                    services.push((service, addr));
                }
                Err(e) => out.errors.push(format!("arti echo service {i}: {e}")),
            }
        }
        services
    });
    progress(&format!(
        "dials: {} + {} echo services published; cold dials",
        system_services.len(),
        arti_services.len()
    ));
    const ROWS: usize = 4;
    let mut rows: [_; ROWS] = [
        ("system tor → C tor service", Client::System, Host::CTor),
        ("arti → C tor service", Client::Arti, Host::CTor),
        ("system tor → arti service", Client::System, Host::Arti),
        ("arti → arti service", Client::Arti, Host::Arti),
    ]
    .map(|(name, client, host)| {
        (
            ClientDials {
                name: name.to_owned(),
                ..ClientDials::default()
            },
            client,
            host,
        )
    });
    let service = |host: Host, i: usize| match host {
        Host::CTor => system_services.get(i).map(|(_, addr)| addr),
        Host::Arti => arti_services.get(i).map(|(_, addr)| addr),
    };
    rt.block_on(async {
        // Cold: each client dials service i of each host once; the rows take turns at
        // going first, so no client always finds the circuits of the machine warm.
        for i in 0..samples {
            for k in 0..rows.len() {
                let Some((dials, client, host)) = rows.get_mut((i + k) % ROWS) else {
                    continue;
                };
                if let Some(addr) = service(*host, i) {
                    match client {
                        Client::System => sample(system, addr, dials, true).await,
                        Client::Arti => sample(arti, addr, dials, true).await,
                    }
                }
            }
        }
    });
    progress("dials: warm dials");
    rt.block_on(async {
        for i in 0..samples {
            for k in 0..rows.len() {
                let Some((dials, client, host)) = rows.get_mut((i + k) % ROWS) else {
                    continue;
                };
                if let Some(addr) = service(*host, 0) {
                    match client {
                        Client::System => sample(system, addr, dials, false).await,
                        Client::Arti => sample(arti, addr, dials, false).await,
                    }
                }
            }
        }
    });
    for (service, _) in &system_services {
        if let Err(e) = net.remove_onion_service(service) {
            out.errors.push(format!("removing an echo service: {e}"));
        }
    }
    // arti's services stop with their tasks, inside the runtime.
    rt.block_on(async move { drop(arti_services) });
    progress("dials: through an exit");
    let mut sys_exit = ClientDials {
        name: "system tor → exit → echo (3 hops, for reference)".to_owned(),
        ..ClientDials::default()
    };
    let mut arti_exit = ClientDials {
        name: "arti → exit → echo (3 hops, for reference)".to_owned(),
        ..ClientDials::default()
    };
    rt.block_on(async {
        exit_samples(Some(system), None, echo, samples, &mut sys_exit).await;
        exit_samples(None, Some(arti), echo, samples, &mut arti_exit).await;
    });
    out.clients = rows.into_iter().map(|(dials, _, _)| dials).collect();
    out.clients.extend([sys_exit, arti_exit]);
    out
}
