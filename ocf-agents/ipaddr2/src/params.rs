//! The parameter and action tables: the meta-data, the environment parsing
//! and the docs' parameter table all come from here. Names, types and
//! defaults are those of resource-agents 4.12 `ocf:heartbeat:IPaddr2`.
#![forbid(unsafe_code)]

use ocf::{ActionSpec, AgentInfo, ParamSpec, ParamType};

const B: ParamType = ParamType::Boolean;
const I: ParamType = ParamType::Integer;

pub static PARAMS: &[ParamSpec] = &[
    ParamSpec::new("ip", "IPv4 or IPv6 address")
        .required()
        .unique()
        .long("The address to manage, e.g. \"192.168.1.1\" or \"2001:db8::10\". IPv6 addresses are written in the canonical form of RFC 5952 before use."),
    ParamSpec::new("nic", "Network interface").long(
        "The base interface to put the address on. When empty, the interface is taken from the routing table: the longest-prefix route of the main table that contains the address (scope link for IPv4). The deprecated form \"eth0:label\" sets iflabel too.",
    ),
    ParamSpec::new("cidr_netmask", "CIDR netmask").long(
        "Prefix length of the address, e.g. 24. When empty, the prefix of the matching route is used. A dotted-quad netmask is converted with a warning.",
    ),
    ParamSpec::new("broadcast", "Broadcast address").long(
        "IPv4 broadcast address. \"+\" sets all host bits, \"-\" clears them. When empty, the broadcast of the address that is the matching route's source is copied; otherwise none is set.",
    ),
    ParamSpec::new("iflabel", "Interface label").long(
        "Label for the address (IPv4), shown as nic:iflabel. nic:iflabel may be at most 15 characters.",
    ),
    ParamSpec::new("lvs_support", "Enable support for LVS DR").kind(B).default("false").long(
        "IPv4 only: for LVS direct routing, move a conflicting /32 copy of the address from lo away on start and put it back on stop.",
    ),
    ParamSpec::new("lvs_ipv6_addrlabel", "Enable adding IPv6 address label.")
        .kind(B)
        .default("false")
        .long("IPv6 only: add an address label (RFC 6724 source selection) for the address on start and remove it on stop, so that LVS does not use it as a source."),
    ParamSpec::new("lvs_ipv6_addrlabel_value", "IPv6 address label value.")
        .kind(I)
        .default("99")
        .long("The label value used by lvs_ipv6_addrlabel."),
    ParamSpec::new("mac", "Cluster IP MAC address").long(
        "Multicast MAC address for CLUSTERIP. Kept for configuration compatibility: CLUSTERIP is removed from Linux and this agent refuses such a configuration.",
    ),
    ParamSpec::new("clusterip_hash", "Cluster IP hashing function")
        .default("sourceip-sourceport")
        .long("CLUSTERIP hashing function. Kept for configuration compatibility only."),
    ParamSpec::new("unique_clone_address", "Create a unique address for cloned instances")
        .kind(B)
        .default("false")
        .long("IPv4 only: add the clone instance number to the last octet of ip. Requires the clone meta attribute globally-unique=true."),
    ParamSpec::new("arp_interval", "ARP/NA packet interval in ms (deprecated)")
        .kind(I)
        .default("200")
        .long("Milliseconds between gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6)."),
    ParamSpec::new("arp_count", "ARP/NA packet count sent during initialization")
        .kind(I)
        .default("5")
        .long("Number of gratuitous ARPs or unsolicited neighbour advertisements sent after the address is added. Must be at least 1."),
    ParamSpec::new("arp_count_refresh", "ARP packet count sent during monitoring")
        .kind(I)
        .default("0")
        .long("Number of announcements sent on every monitor that finds the address up. 0 sends none."),
    ParamSpec::new("arp_bg", "ARP/NA from background").long(
        "Send the announcements from a background process so that start returns at once. Empty means yes for IPv4 and no for IPv6.",
    ),
    ParamSpec::new("arp_sender", "ARP sender").long(
        "Accepted for compatibility (send_arp, iputils_arping, libnet_arping, ipoibarping): this agent always sends the announcements itself on a packet socket.",
    ),
    ParamSpec::new("send_arp_opts", "Options for ARP sender")
        .long("Accepted for compatibility and ignored: there is no external ARP sender."),
    ParamSpec::new("flush_routes", "Flush kernel routing table on stop")
        .kind(B)
        .default("false")
        .long("Flush the kernel's routing cache after removing the address."),
    ParamSpec::new("run_arping", "Run arping for IPv4 collision detection check")
        .default("false")
        .long("IPv4: before adding the address, probe for another host using it (ARP probes with sender 0.0.0.0, RFC 5227); a reply fails the start."),
    ParamSpec::new("nodad", "Use nodad flag")
        .default("false")
        .long("IPv6: add the address without duplicate address detection."),
    ParamSpec::new("noprefixroute", "Use noprefixroute flag")
        .default("false")
        .long("Do not create the prefix route for the address."),
    ParamSpec::new("preferred_lft", "IPv6 preferred lifetime")
        .default("forever")
        .long("IPv6 preferred lifetime in seconds, or \"forever\". 0 makes the address deprecated, so that it is not chosen as a source address."),
    ParamSpec::new("network_namespace", "Network namespace to use").long(
        "Name of a network namespace (as in /run/netns) to manage the address in. The agent enters it itself with setns(2).",
    ),
];

pub static ACTIONS: &[ActionSpec] = &[
    ActionSpec::new("start", 20),
    ActionSpec::new("stop", 20),
    ActionSpec::new("status", 20).interval(10).depth(0),
    ActionSpec::new("monitor", 20).interval(10).depth(0),
    ActionSpec::new("meta-data", 5),
    ActionSpec::new("validate-all", 20),
];

pub static INFO: AgentInfo = AgentInfo {
    name: "IPaddr2",
    version: "1.0",
    shortdesc: "Manages virtual IPv4 and IPv6 addresses (Linux specific version)",
    longdesc: "Manages a floating IPv4 or IPv6 address on a Linux interface: adds it on start (announcing it with gratuitous ARPs or unsolicited neighbour advertisements), removes it on stop and checks it on monitor. A drop-in for ocf:heartbeat:IPaddr2 that reads and changes addresses over rtnetlink and forks no process.",
    params: PARAMS,
    actions: ACTIONS,
};
