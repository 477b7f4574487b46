//! Attaching the TC programs to interfaces, and detaching them when an
//! interface goes away.

use aya::programs::{
    tc::{self, NlOptions, SchedClassifierLinkId, TcAttachOptions},
    LinkOrder, SchedClassifier, TcAttachType,
};
use netmon_common::{names, IfaceConfig, IFACE_ACCOUNT_FLOWS};
use tracing::debug;

use crate::{error::EbpfError, loader::NetmonEbpf};

/// How the TC programs are attached to an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// TCX links (Linux 6.6+): owned by the agent's file descriptors, so
    /// they vanish with the process and coexist with other programs.
    Tcx,
    /// Legacy clsact qdisc filters (netlink), for older kernels.
    Tc,
}

impl AttachMode {
    pub fn name(self) -> &'static str {
        match self {
            AttachMode::Tcx => "tcx",
            AttachMode::Tc => "tc",
        }
    }
}

/// What the agent asked for (config `capture.attach_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachPreference {
    /// TCX where the kernel has it, clsact otherwise.
    Auto,
    Tcx,
    Tc,
}

/// An interface the programs are attached to.
#[derive(Debug)]
pub struct AttachedInterface {
    pub ifindex: u32,
    pub name: String,
    pub mode: AttachMode,
    pub account_flows: bool,
    /// Index of this interface's counters in the per-CPU counters array.
    pub slot: u32,
    ingress: SchedClassifierLinkId,
    egress: SchedClassifierLinkId,
}

fn classifier<'a>(
    ebpf: &'a mut aya::Ebpf,
    name: &'static str,
) -> Result<&'a mut SchedClassifier, EbpfError> {
    crate::loader::program(ebpf, name)
}

fn attach_one(
    ebpf: &mut aya::Ebpf,
    program: &'static str,
    interface: &str,
    attach_type: TcAttachType,
    mode: AttachMode,
) -> Result<SchedClassifierLinkId, EbpfError> {
    let hook = match attach_type {
        TcAttachType::Ingress => "ingress",
        _ => "egress",
    };
    let options = match mode {
        AttachMode::Tcx => TcAttachOptions::TcxOrder(LinkOrder::default()),
        AttachMode::Tc => TcAttachOptions::Netlink(NlOptions::default()),
    };
    classifier(ebpf, program)?
        .attach_with_options(interface, attach_type, options)
        .map_err(|source| EbpfError::Attach {
            interface: interface.to_string(),
            hook,
            source,
        })
}

impl NetmonEbpf {
    /// Attaches ingress and egress programs to `name`. `account_flows` says
    /// whether its packets count into flows (an upper device such as a
    /// bridge is counted per interface only: its ports count the flows).
    pub fn attach_interface(
        &mut self,
        ifindex: u32,
        name: &str,
        account_flows: bool,
        preference: AttachPreference,
    ) -> Result<AttachMode, EbpfError> {
        if let Some((existing_name, mode)) = self
            .attached
            .get(&ifindex)
            .map(|a| (a.name.clone(), a.mode))
        {
            if existing_name == name {
                self.set_interface_accounting(ifindex, account_flows)?;
                return Ok(mode);
            }
            // Same index, new name: a renamed or recreated device.
            self.detach_interface(ifindex);
        }
        // The interface is registered before the programs attach so that the
        // very first packets are already accounted.
        let slot = self.free_slots.pop().ok_or(EbpfError::NoCounterSlot)?;
        if let Err(e) = self.register_interface(ifindex, account_flows, slot) {
            self.free_slots.push(slot);
            return Err(e);
        }

        let modes: &[AttachMode] = match preference {
            AttachPreference::Tcx => &[AttachMode::Tcx],
            AttachPreference::Tc => &[AttachMode::Tc],
            AttachPreference::Auto if self.features.tcx => &[AttachMode::Tcx, AttachMode::Tc],
            AttachPreference::Auto => &[AttachMode::Tc],
        };
        let mut last_error = None;
        for &mode in modes {
            match self.attach_both(ifindex, name, mode) {
                Ok(attached) => {
                    let mode = attached.mode;
                    self.attached.insert(
                        ifindex,
                        AttachedInterface {
                            account_flows,
                            slot,
                            ..attached
                        },
                    );
                    return Ok(mode);
                }
                Err(e) => {
                    debug!(interface = name, mode = mode.name(), error = %e, "attach failed");
                    last_error = Some(e);
                }
            }
        }
        let _ = self.ifaces.remove(&ifindex);
        self.free_slots.push(slot);
        Err(last_error.expect("at least one attach mode is tried"))
    }

    fn attach_both(
        &mut self,
        ifindex: u32,
        name: &str,
        mode: AttachMode,
    ) -> Result<AttachedInterface, EbpfError> {
        if mode == AttachMode::Tc {
            // "File exists" when the qdisc is already there is fine.
            let _ = tc::qdisc_add_clsact(name);
        }
        let ingress = attach_one(
            &mut self.ebpf,
            names::TC_INGRESS_PROG,
            name,
            TcAttachType::Ingress,
            mode,
        )?;
        let egress = match attach_one(
            &mut self.ebpf,
            names::TC_EGRESS_PROG,
            name,
            TcAttachType::Egress,
            mode,
        ) {
            Ok(id) => id,
            Err(e) => {
                if let Ok(prog) = classifier(&mut self.ebpf, names::TC_INGRESS_PROG) {
                    let _ = prog.detach(ingress);
                }
                return Err(e);
            }
        };
        Ok(AttachedInterface {
            ifindex,
            name: name.to_string(),
            mode,
            account_flows: false,
            slot: 0,
            ingress,
            egress,
        })
    }

    /// Updates whether an interface's packets count into flows.
    pub fn set_interface_accounting(
        &mut self,
        ifindex: u32,
        account_flows: bool,
    ) -> Result<(), EbpfError> {
        let Some(slot) = self.attached.get(&ifindex).map(|a| a.slot) else {
            return Ok(());
        };
        self.register_interface(ifindex, account_flows, slot)?;
        if let Some(attached) = self.attached.get_mut(&ifindex) {
            attached.account_flows = account_flows;
        }
        Ok(())
    }

    fn register_interface(
        &mut self,
        ifindex: u32,
        account_flows: bool,
        slot: u32,
    ) -> Result<(), EbpfError> {
        let flags = if account_flows {
            IFACE_ACCOUNT_FLOWS
        } else {
            0
        };
        self.ifaces
            .insert(ifindex, IfaceConfig { flags, slot }, 0)
            .map_err(|source| EbpfError::Map {
                map: names::IFACES_MAP,
                source,
            })
    }

    /// Detaches from an interface. When the interface is already gone the
    /// kernel has dropped the attachment itself; the errors that follow
    /// from that are expected and not reported.
    /// Returns the interface's name if it was attached.
    pub fn detach_interface(&mut self, ifindex: u32) -> Option<String> {
        let attached = self.attached.remove(&ifindex)?;
        let _ = self.ifaces.remove(&ifindex);
        self.release_slot(attached.slot);
        for (program, link) in [
            (names::TC_INGRESS_PROG, attached.ingress),
            (names::TC_EGRESS_PROG, attached.egress),
        ] {
            if let Ok(prog) = classifier(&mut self.ebpf, program) {
                if let Err(e) = prog.detach(link) {
                    debug!(interface = %attached.name, error = %e, "detach after removal");
                }
            }
        }
        Some(attached.name)
    }

    pub fn attached_interfaces(&self) -> impl Iterator<Item = &AttachedInterface> {
        self.attached.values()
    }
}
