//! No input makes the parsers or writers panic: arbitrary bytes, text
//! made of haresources/ha.cf/XML fragments, and the checked-in examples
//! with random edits.

use proptest::prelude::*;

const HARESOURCES: &str = "host01.example.ac.jp IPaddr2::192.168.1.80/24/eth0/192.168.1.255 drbddisk::r0 \\\n Filesystem::/dev/drbd0::/mnt::ext3 httpd # web\nhost02 10.0.0.1 MailTo::a@b::s Delay::5 portblock::tcp::80::block\n";
const HACF: &str = "keepalive 2\ndeadtime 30\nwarntime 10\ninitdead 120\nudpport 694\nbcast eth1\nucast eth2 10.0.0.2\nmcast eth0 239.0.0.1 694 1 0\nping 10.0.0.254\nping_group g 1.1.1.1 8.8.8.8\nrespawn root /usr/lib/heartbeat/pingd -m 100 -d 5s -a x\nstonith_host * external/ipmi host02 10.1.1.2 a b lan\nauto_failback off\nnode host01 host02\nauth 1\n1 sha1 x\n";
const OLD_CIB: &str = r#"<cib epoch="1"><configuration><crm_config><cluster_property_set id="o"><attributes><nvpair id="a" name="default-resource-stickiness" value="0"/></attributes></cluster_property_set></crm_config><resources><group id="g"><primitive class="heartbeat" id="d" type="drbddisk"><instance_attributes id="i"><attributes><nvpair id="n" name="1" value="r0"/></attributes></instance_attributes></primitive></group><master_slave id="m"><instance_attributes><attributes><nvpair name="clone_max" value="2"/></attributes></instance_attributes></master_slave></resources><constraints><rsc_order id="o" from="a" to="b"/></constraints></configuration></cib>"#;

/// The DRBD 8 guide and Heartbeat 2.1 documentation constructs the upgrade
/// repairs: drbd master_slave, underscores, infinity, swapped netmask,
/// colon ids, pingd.
const OLD_CIB_DRBD8: &str = r##"<cib><configuration><resources><master_slave id="ms:1"><meta_attributes id="m"><attributes><nvpair id="m1" name="clone_max" value="2"/><nvpair name="notify" value="no"/></attributes></meta_attributes><primitive id="d" class="OCF" provider="heartbeat" type="drbd"><operations><op id="1" name="monitor" interval="59s" timeout="10" role="master" on_fail="nothing"/></operations></primitive></master_slave><group id="g"><primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="a"><attributes><nvpair id="a1" name="cidr_netmask" value="eth0"/><nvpair id="a2" name="nic" value="24"/></attributes></instance_attributes></primitive></group><clone id="p"><primitive id="pc" class="ocf" provider="heartbeat" type="pingd"/></clone></resources><constraints><rsc_colocation id="c:1" from="g" to="ms:1" to_role="master" score="infinity"/><rsc_location id="l" rsc="g"><rule id="r" score_attribute="pingd" boolean_op="and"><expression attribute="pingd" operation="defined"/></rule></rsc_location></constraints></configuration></cib>"##;

fn fragments() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "::",
        ":",
        "/",
        "\\",
        "\n",
        " ",
        "\t",
        "#",
        "IPaddr2",
        "IPaddr",
        "Filesystem",
        "drbddisk",
        "192.168.1.1",
        "10.0.0.",
        "24",
        "33",
        "eth0:1",
        "::::",
        "2001:db8::1",
        "fe80::1",
        "Raid1",
        "/etc/raidtab",
        "infinity",
        "master_slave",
        "score_attribute",
        "debugfile",
        "ipfail",
        "node",
        "bcast",
        "ucast",
        "deadtime",
        "keepalive",
        "0.5",
        "ms",
        "auth",
        "sha1",
        "<cib>",
        "</cib>",
        "<",
        ">",
        "\"",
        "&amp;",
        "{",
        "}",
        "é",
        "\u{0}",
        "portblock",
        "Delay",
        "MailTo",
        "LVM",
        "x",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

fn mutate(base: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for &(pos, op, byte) in edits {
        let at = if b.is_empty() { 0 } else { pos % (b.len() + 1) };
        match op % 3 {
            0 => b.insert(at, byte),
            1 if at < b.len() => {
                b.remove(at);
            }
            _ if at < b.len() => b[at] = byte,
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..400)) {
        shimai_cib::fuzz_haresources(&data);
        shimai_cib::fuzz_hacf(&data);
        shimai_cib::fuzz_upgrade(&data);
    }

    #[test]
    fn fragment_soup(text in fragments()) {
        shimai_cib::fuzz_haresources(text.as_bytes());
        shimai_cib::fuzz_hacf(text.as_bytes());
        shimai_cib::fuzz_upgrade(text.as_bytes());
    }

    #[test]
    fn edited_examples(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..12)) {
        shimai_cib::fuzz_haresources(&mutate(HARESOURCES, &edits));
        shimai_cib::fuzz_hacf(&mutate(HACF, &edits));
        shimai_cib::fuzz_upgrade(&mutate(OLD_CIB, &edits));
        shimai_cib::fuzz_upgrade(&mutate(OLD_CIB_DRBD8, &edits));
    }
}

/// The unmutated seeds convert, so the mutations start from valid input.
#[test]
fn seeds_are_valid() {
    let inputs = shimai_cib::Inputs {
        haresources: ("haresources", HARESOURCES),
        hacf: Some(("ha.cf", HACF)),
        authkeys: None,
    };
    let c = shimai_cib::convert(
        &inputs,
        &shimai_cib::Options::default(),
        &shimai_cib::NoHost,
    )
    .unwrap();
    assert_eq!(c.cluster.nodes, vec!["host01", "host02"]);
    assert!(shimai_cib::upgrade::upgrade("old", OLD_CIB, "pacemaker-3.9", "shimai").is_ok());
    let (xml, _) =
        shimai_cib::upgrade::upgrade("old", OLD_CIB_DRBD8, "pacemaker-3.9", "shimai").unwrap();
    assert!(xml.contains(r#"score="INFINITY""#), "{xml}");
}
