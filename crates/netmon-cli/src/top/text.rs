//! How a flow's ends are written, shared by the table and the filter
//! prompt so that what the filter matches is what the screen shows.

use crate::model::Flow;

/// `namespace/pod:port` when Kubernetes named the end, else `ip:port`
/// (`[ip]:port` for IPv6).
pub fn source(flow: &Flow) -> String {
    end(&flow.src_name(), &flow.src_ip, flow.src_port)
}

pub fn destination(flow: &Flow) -> String {
    end(&flow.dst_name(), &flow.dst_ip, flow.dst_port)
}

fn end(name: &str, ip: &str, port: u16) -> String {
    if name == ip && ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{name}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::rates::tests::flow;

    #[test]
    fn ends_are_address_and_port_or_pod_and_port() {
        let mut flow = flow(1, (0, 0), (0, 0), 0);
        assert_eq!(source(&flow), "10.0.0.1:40001");
        assert_eq!(destination(&flow), "10.0.0.2:5001");
        flow.dst_ip = "fd00::2".into();
        assert_eq!(destination(&flow), "[fd00::2]:5001");
        flow.dst_pod = Some("api-7d9f".into());
        flow.dst_namespace = Some("shop".into());
        assert_eq!(destination(&flow), "shop/api-7d9f:5001");
    }
}
