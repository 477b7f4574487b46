//! Loads the eBPF object and owns its programs and maps.

use std::collections::HashMap;

use aya::{
    maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{SchedClassifier, TracePoint},
    Ebpf, EbpfLoader,
};
use netmon_common::{names, Control, FlowKey, IcmpKey, IfaceConfig, IfaceCounters, SizeBucket};
use tracing::info;

use crate::{
    attach::AttachedInterface, error::EbpfError, features::KernelFeatures, loss::LossMaps,
};

/// Load-time settings.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Capacity of each of the two kernel flow maps.
    pub flow_map_entries: u32,
    /// Count one packet in this many for flows, scaled (1: every packet).
    pub sampling_rate: u32,
    /// `netmon_common::payload_flags`: which payload samples to send.
    pub payload_flags: u32,
}

/// netmon's loaded eBPF object. Dropping it detaches every program and
/// closes every map (aya detaches the links it owns on drop).
pub struct NetmonEbpf {
    pub(crate) ebpf: Ebpf,
    pub(crate) flow_maps: [MapData; 2],
    pub(crate) control: Array<MapData, Control>,
    pub(crate) ifaces: BpfHashMap<MapData, u32, IfaceConfig>,
    pub(crate) iface_stats: PerCpuArray<MapData, IfaceCounters>,
    /// Per-interface counter slots not in use (see `netmon_iface_config`).
    pub(crate) free_slots: Vec<u32>,
    pub(crate) stats: PerCpuArray<MapData, u64>,
    pub(crate) packet_sizes: PerCpuArray<MapData, SizeBucket>,
    pub(crate) icmp: PerCpuHashMap<MapData, IcmpKey, u64>,
    pub(crate) events: Option<RingBuf<MapData>>,
    /// Payload samples (DNS, first payloads), handed out once.
    pub(crate) payloads: Option<RingBuf<MapData>>,
    /// Flow directions user space needs no more first payloads of.
    pub(crate) payload_done: BpfHashMap<MapData, FlowKey, u8>,
    pub(crate) payload_flags: u32,
    pub(crate) generation: u32,
    pub(crate) attached: HashMap<u32, AttachedInterface>,
    pub(crate) features: KernelFeatures,
    pub(crate) flow_map_entries: u32,
    pub(crate) sampling_rate: u32,
    pub(crate) batch_supported: bool,
    pub(crate) tcp_lifecycle_attached: bool,
    /// The two RTT map generations (`netmon_rtt_*`), drained with the flow maps.
    pub(crate) rtt_maps: [MapData; 2],
    pub(crate) tcp_rtt_attached: bool,
    /// Retransmit and drop maps and whether their programs are attached.
    pub(crate) loss: LossMaps,
}

fn program_error(program: &'static str) -> impl Fn(aya::programs::ProgramError) -> EbpfError {
    move |source| EbpfError::Program { program, source }
}

/// A program of the object, as its concrete type.
pub(crate) fn program<'a, P>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut P, EbpfError>
where
    &'a mut P: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(EbpfError::MissingProgram(name))?
        .try_into()
        .map_err(program_error(name))
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, EbpfError> {
    ebpf.take_map(name).ok_or(EbpfError::MissingMap(name))
}

fn map_data(map: aya::maps::Map, name: &'static str) -> Result<MapData, EbpfError> {
    match map {
        aya::maps::Map::HashMap(data) => Ok(data),
        _ => Err(EbpfError::MissingMap(name)),
    }
}

impl NetmonEbpf {
    /// Loads the object and the TC programs into the kernel (verifier runs
    /// here); nothing is attached yet.
    pub fn load(options: &LoadOptions, features: KernelFeatures) -> Result<Self, EbpfError> {
        let mut loader = EbpfLoader::new();
        // The RTT maps hold one entry per socket, as the flow maps hold one
        // per direction of a connection: the same bound fits both.
        for name in names::FLOW_MAPS.into_iter().chain(names::RTT_MAPS) {
            loader.map_max_entries(name, options.flow_map_entries);
        }
        // The done map holds one entry per flow direction, like a flow map,
        // but only first-payload capture reads or writes it (the programs
        // and `mark_payload_done`); without it, one entry. An LRU map
        // allocates all its entries up front: 113 B per flow map entry
        // (1M entries: 113 MB of kernel memory) for nothing.
        let done_entries = if options.payload_flags & netmon_common::payload_flags::FIRST != 0 {
            options.flow_map_entries
        } else {
            1
        };
        loader.map_max_entries(names::PAYLOAD_DONE_MAP, done_entries);
        let mut ebpf = loader.load(crate::NETMON_BPF_OBJECT)?;

        for name in [names::TC_INGRESS_PROG, names::TC_EGRESS_PROG] {
            let prog: &mut SchedClassifier = program(&mut ebpf, name)?;
            prog.load().map_err(program_error(name))?;
        }

        let flow_maps = [
            map_data(
                take_map(&mut ebpf, names::FLOW_MAPS[0])?,
                names::FLOW_MAPS[0],
            )?,
            map_data(
                take_map(&mut ebpf, names::FLOW_MAPS[1])?,
                names::FLOW_MAPS[1],
            )?,
        ];
        let rtt_maps = [
            map_data(take_map(&mut ebpf, names::RTT_MAPS[0])?, names::RTT_MAPS[0])?,
            map_data(take_map(&mut ebpf, names::RTT_MAPS[1])?, names::RTT_MAPS[1])?,
        ];
        let map_err = |map: &'static str| move |source| EbpfError::Map { map, source };
        let mut control: Array<MapData, Control> =
            Array::try_from(take_map(&mut ebpf, names::CONTROL_MAP)?)
                .map_err(map_err(names::CONTROL_MAP))?;
        // Before anything is attached, so the first packet is already sampled.
        let sampling_rate = options.sampling_rate.max(1);
        control
            .set(
                0,
                Control {
                    generation: 0,
                    sampling_rate,
                    payload_flags: options.payload_flags,
                    _pad: 0,
                },
                0,
            )
            .map_err(map_err(names::CONTROL_MAP))?;
        let ifaces = BpfHashMap::try_from(take_map(&mut ebpf, names::IFACES_MAP)?)
            .map_err(map_err(names::IFACES_MAP))?;
        let iface_stats = PerCpuArray::try_from(take_map(&mut ebpf, names::IFACE_STATS_MAP)?)
            .map_err(map_err(names::IFACE_STATS_MAP))?;
        let stats = PerCpuArray::try_from(take_map(&mut ebpf, names::STATS_MAP)?)
            .map_err(map_err(names::STATS_MAP))?;
        let packet_sizes = PerCpuArray::try_from(take_map(&mut ebpf, names::PACKET_SIZES_MAP)?)
            .map_err(map_err(names::PACKET_SIZES_MAP))?;
        let icmp = PerCpuHashMap::try_from(take_map(&mut ebpf, names::ICMP_MAP)?)
            .map_err(map_err(names::ICMP_MAP))?;
        let events = RingBuf::try_from(take_map(&mut ebpf, names::EVENTS_MAP)?)
            .map_err(map_err(names::EVENTS_MAP))?;
        let loss = LossMaps::take(&mut ebpf)?;
        let payloads = RingBuf::try_from(take_map(&mut ebpf, names::PAYLOADS_MAP)?)
            .map_err(map_err(names::PAYLOADS_MAP))?;
        let payload_done = BpfHashMap::try_from(take_map(&mut ebpf, names::PAYLOAD_DONE_MAP)?)
            .map_err(map_err(names::PAYLOAD_DONE_MAP))?;

        info!(
            flow_map_entries = options.flow_map_entries,
            tcx = features.tcx,
            "eBPF object loaded"
        );
        Ok(NetmonEbpf {
            ebpf,
            flow_maps,
            control,
            ifaces,
            iface_stats,
            // Popped from the end: slot 0 is handed out first.
            free_slots: (0..netmon_common::IFACE_SLOTS).rev().collect(),
            stats,
            packet_sizes,
            icmp,
            events: Some(events),
            payloads: Some(payloads),
            payload_done,
            payload_flags: options.payload_flags,
            generation: 0,
            attached: HashMap::new(),
            features,
            flow_map_entries: options.flow_map_entries,
            sampling_rate,
            batch_supported: true,
            tcp_lifecycle_attached: false,
            rtt_maps,
            tcp_rtt_attached: false,
            loss,
        })
    }

    /// Attaches the TCP lifecycle tracepoint. The agent treats an error as
    /// "lifecycle off" and keeps counting flows.
    pub fn attach_tcp_lifecycle(&mut self) -> Result<(), EbpfError> {
        let name = names::TCP_STATE_PROG;
        let prog: &mut TracePoint = program(&mut self.ebpf, name)?;
        prog.load().map_err(program_error(name))?;
        prog.attach("sock", "inet_sock_set_state")
            .map_err(program_error(name))?;
        self.tcp_lifecycle_attached = true;
        Ok(())
    }

    pub fn tcp_lifecycle_attached(&self) -> bool {
        self.tcp_lifecycle_attached
    }

    /// Hands out the ring buffer of TCP events (once).
    pub fn take_events(&mut self) -> Option<RingBuf<MapData>> {
        self.events.take()
    }

    /// The control values programs read, for the current generation.
    pub(crate) fn control_value(&self) -> Control {
        Control {
            generation: self.generation,
            sampling_rate: self.sampling_rate,
            payload_flags: self.payload_flags,
            _pad: 0,
        }
    }

    pub fn features(&self) -> &KernelFeatures {
        &self.features
    }

    pub fn flow_map_entries(&self) -> u32 {
        self.flow_map_entries
    }
}
