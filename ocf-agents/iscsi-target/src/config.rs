//! Parameters turned into checked configurations. Everything here is pure:
//! validate-all, start and the monitors share it, and the unit tests cover
//! each rule.

use std::net::IpAddr;

use ocf::{OcfError, Params, Result};

/// Which target implementation the resource uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implementation {
    Tgt,
    LioT,
}

/// Resolves `implementation`. `have` says whether a program is installed
/// (for the default).
pub fn implementation(value: &str, have: impl Fn(&str) -> bool) -> Result<Implementation> {
    match value {
        "tgt" => Ok(Implementation::Tgt),
        "lio-t" => Ok(Implementation::LioT),
        "iet" => Err(OcfError::configured(
            "implementation=iet: the iSCSI Enterprise Target was removed from Debian and is \
             not supported; use implementation=tgt (tgtd) with the same parameters",
        )),
        "lio" => Err(OcfError::configured(
            "implementation=lio: lio_node (python-rtslib 2) is not supported; use \
             implementation=lio-t (targetcli) or implementation=tgt",
        )),
        "" => {
            if have("tgtd") || have("tgtadm") {
                Ok(Implementation::Tgt)
            } else if have("targetcli") {
                Ok(Implementation::LioT)
            } else {
                Err(OcfError::installed(
                    "no iSCSI target found: install tgt (tgtd) or targetcli-fb, or set implementation",
                ))
            }
        }
        other => Err(OcfError::configured(format!(
            "implementation={other} is not known: use tgt or lio-t"
        ))),
    }
}

/// One entry of `allowed_initiators`, bound the way tgtd matches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Initiator {
    /// `initiator-name=`: matched against the login's InitiatorName.
    Name(String),
    /// `initiator-address=`: matched against the connection's address.
    Address(String),
}

impl Initiator {
    pub fn parse(s: &str) -> Result<Initiator> {
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("iqn.") || lower.starts_with("eui.") || lower.starts_with("naa.") {
            if s.contains(',') || s.len() > 223 {
                return Err(OcfError::configured(format!(
                    "allowed_initiators: '{s}' is not a valid initiator name"
                )));
            }
            return Ok(Initiator::Name(s.to_string()));
        }
        if s == "ALL" {
            return Ok(Initiator::Address(s.to_string()));
        }
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| {
                OcfError::configured(format!(
                "allowed_initiators: '{s}' is neither an initiator name (iqn., eui., naa.) nor \
                 an address (IPv4, IPv6, address/prefix or ALL)"
            ))
            })?;
        if let Some(p) = prefix {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if !p.parse::<u8>().is_ok_and(|n| n <= max) {
                return Err(OcfError::configured(format!(
                    "allowed_initiators: '{s}' has an invalid prefix length"
                )));
            }
        }
        Ok(Initiator::Address(s.to_string()))
    }

    /// The body of tgtd's bind/unbind request.
    pub fn body(&self) -> String {
        match self {
            Initiator::Name(n) => format!("initiator-name={n}"),
            Initiator::Address(a) => format!("initiator-address={a}"),
        }
    }

    /// How tgtd lists it under "ACL information".
    pub fn shown(&self) -> &str {
        match self {
            Initiator::Name(n) | Initiator::Address(n) => n,
        }
    }
}

/// `allowed_initiators`: empty means everyone (bound as address ALL).
pub fn initiators(value: &str) -> Result<Vec<Initiator>> {
    let v: Vec<Initiator> = value
        .split_whitespace()
        .map(Initiator::parse)
        .collect::<Result<_>>()?;
    Ok(if v.is_empty() {
        vec![Initiator::Address("ALL".to_string())]
    } else {
        v
    })
}

/// `additional_parameters`: space-separated `name=value`.
pub fn name_values(param: &str, value: &str) -> Result<Vec<(String, String)>> {
    value
        .split_whitespace()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() && !kv.contains(',') => {
                Ok((k.to_string(), v.to_string()))
            }
            _ => Err(OcfError::configured(format!(
                "{param}: '{kv}' is not name=value (space-separated, no commas)"
            ))),
        })
        .collect()
}

/// tgt's target name rule (`[A-Za-z0-9:.-]`), which IQNs and EUIs satisfy.
pub fn check_iqn(param: &str, iqn: &str) -> Result<()> {
    if iqn.is_empty()
        || iqn.len() > 223
        || !iqn
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-'))
    {
        return Err(OcfError::configured(format!(
            "{param}='{iqn}' is not a valid target name: use letters, digits, '.', '-' and ':' \
             (e.g. iqn.2026-01.com.example:disk1), at most 223 characters"
        )));
    }
    Ok(())
}

pub fn control_port(params: &Params) -> Result<u16> {
    let v = params.str("tgt_control_port").trim();
    if v.is_empty() {
        return Ok(0);
    }
    v.parse().map_err(|_| {
        OcfError::configured(format!(
            "tgt_control_port='{v}' is not a port number (0-65535)"
        ))
    })
}

/// The iSCSITarget resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    pub iqn: String,
    pub tid: Option<i32>,
    pub portals: Vec<String>,
    pub iser_portals: Vec<String>,
    pub initiators: Vec<Initiator>,
    /// CHAP (user, password).
    pub chap: Option<(String, String)>,
    pub additional: Vec<(String, String)>,
    pub warnings: Vec<String>,
}

impl TargetConfig {
    pub fn from_params(p: &Params, imp: Implementation) -> Result<TargetConfig> {
        let iqn = p.str("iqn").to_string();
        if iqn.is_empty() {
            return Err(OcfError::configured("required parameter iqn is not set"));
        }
        check_iqn("iqn", &iqn)?;
        let raw_tid = p.str("tid").trim();
        let tid = if raw_tid.is_empty() {
            None
        } else {
            match raw_tid.parse::<i32>() {
                Ok(t) if t > 0 => Some(t),
                _ => {
                    return Err(OcfError::configured(format!(
                        "tid='{raw_tid}' is not a target ID: use a positive integer, the same on every node"
                    )))
                }
            }
        };
        let mut warnings = Vec::new();
        if imp == Implementation::Tgt && tid.is_none() {
            return Err(OcfError::configured(
                "tid is required with implementation=tgt: set a positive integer, the same on every node",
            ));
        }
        if imp == Implementation::LioT && tid.is_some() {
            warnings.push("tid is ignored by lio-t".to_string());
        }
        let portals: Vec<String> = p
            .str("portals")
            .split_whitespace()
            .map(String::from)
            .collect();
        for portal in &portals {
            check_portal(portal)?;
        }
        let iser_portals: Vec<String> = p
            .str("iser_portals")
            .split_whitespace()
            .map(String::from)
            .collect();
        for portal in &iser_portals {
            check_portal(portal)?;
        }
        if imp == Implementation::Tgt {
            if p.str("portals") != "0.0.0.0:3260" {
                warnings.push(format!(
                    "portals='{}' is ignored by tgt: tgtd listens on the portals it was started with",
                    p.str("portals")
                ));
            }
            if !iser_portals.is_empty() {
                warnings.push("iser_portals is ignored by tgt".to_string());
            }
        }
        let initiators = initiators(p.str("allowed_initiators"))?;
        let user = p.str("incoming_username");
        let pass = p.str("incoming_password");
        let chap = match (user.is_empty(), pass.is_empty()) {
            (true, true) => None,
            (false, false) => {
                if user.contains(',') || pass.contains(',') || user.contains('=') {
                    return Err(OcfError::configured(
                        "incoming_username and incoming_password cannot contain commas \
                         (tgtd's request separator) or, for the user, '='",
                    ));
                }
                Some((user.to_string(), pass.to_string()))
            }
            (false, true) => {
                return Err(OcfError::configured(
                    "incoming_username is set but incoming_password is not: set both for CHAP",
                ))
            }
            (true, false) => {
                return Err(OcfError::configured(
                    "incoming_password is set but incoming_username is not: set both for CHAP",
                ))
            }
        };
        let additional = name_values("additional_parameters", p.str("additional_parameters"))?;
        Ok(TargetConfig {
            iqn,
            tid,
            portals,
            iser_portals,
            initiators,
            chap,
            additional,
            warnings,
        })
    }
}

fn check_portal(p: &str) -> Result<()> {
    let ok = match p.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok()
                && host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok()
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(OcfError::configured(format!(
            "portal '{p}' is not address:port (e.g. 0.0.0.0:3260 or [::]:3260)"
        )))
    }
}

/// tgt's device types by name (tgtadm's `--device-type`).
pub fn device_type(name: &str) -> Result<u32> {
    Ok(match name {
        "" | "disk" => 0x00,
        "tape" | "ssc" => 0x01,
        "cd" => 0x05,
        "changer" => 0x08,
        "osd" => 0x11,
        "pt" => 0xff,
        other => {
            return Err(OcfError::configured(format!(
                "tgt_device_type='{other}' is not one of disk, tape, ssc, cd, changer, osd, pt"
            )))
        }
    })
}

/// The iSCSILogicalUnit resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LuConfig {
    pub target_iqn: String,
    pub lun: u64,
    pub path: String,
    pub scsi_id: String,
    pub scsi_sn: String,
    pub vendor_id: String,
    pub product_id: String,
    pub bstype: String,
    pub bsoflags: String,
    pub bsopts: String,
    pub device_type: u32,
    pub additional: Vec<(String, String)>,
    pub lio_initiators: Vec<String>,
    pub liot_bstype: String,
    pub emulate: Vec<(&'static str, bool)>,
    pub warnings: Vec<String>,
}

/// tgtd keeps 36 characters of scsi_id and scsi_sn (SCSI_ID_LEN, SCSI_SN_LEN).
pub const ID_MAX: usize = 36;

impl LuConfig {
    pub fn from_params(p: &Params, instance: &str, imp: Implementation) -> Result<LuConfig> {
        for req in ["target_iqn", "lun", "path"] {
            if p.str(req).trim().is_empty() {
                return Err(OcfError::configured(format!(
                    "required parameter {req} is not set"
                )));
            }
        }
        let target_iqn = p.str("target_iqn").to_string();
        check_iqn("target_iqn", &target_iqn)?;
        let raw = p.str("lun").trim();
        let lun: u64 = raw.parse().map_err(|_| {
            OcfError::configured(format!(
                "lun='{raw}' is not a LUN: use an integer of 1 or more"
            ))
        })?;
        if imp == Implementation::Tgt && lun == 0 {
            return Err(OcfError::configured(
                "lun=0 is tgtd's controller LUN: use 1 or more with implementation=tgt",
            ));
        }
        if lun > 65535 {
            return Err(OcfError::configured(format!(
                "lun={lun} is larger than 65535"
            )));
        }
        let path = p.str("path").to_string();
        let mut warnings = Vec::new();
        let scsi_id = if p.is_given("scsi_id") && !p.str("scsi_id").is_empty() {
            p.str("scsi_id").to_string()
        } else {
            instance.chars().take(16).collect()
        };
        let scsi_sn = if p.is_given("scsi_sn") && !p.str("scsi_sn").is_empty() {
            p.str("scsi_sn").to_string()
        } else {
            crate::md5::hex(instance.as_bytes())[..8].to_string()
        };
        for (name, v) in [("scsi_id", &scsi_id), ("scsi_sn", &scsi_sn)] {
            if v.len() > ID_MAX || v.contains(',') || v.chars().any(char::is_control) {
                return Err(OcfError::configured(format!(
                    "{name}='{v}' cannot be kept by the target: use at most {ID_MAX} characters, \
                     no commas"
                )));
            }
        }
        let vendor_id = p.str("vendor_id").to_string();
        let product_id = p.str("product_id").to_string();
        for (name, v, max) in [
            ("vendor_id", &vendor_id, 8),
            ("product_id", &product_id, 16),
        ] {
            if v.contains(',') {
                return Err(OcfError::configured(format!(
                    "{name}='{v}' cannot contain commas"
                )));
            }
            if v.len() > max {
                warnings.push(format!(
                    "{name}='{v}' is longer than {max} characters; initiators see the first {max}"
                ));
            }
        }
        let mut bstype = p.str("tgt_bstype").to_string();
        let mut bsoflags = p.str("tgt_bsoflags").to_string();
        if bstype == "aio" && bsoflags == "direct" {
            // The reference drops it too: aio always opens with O_DIRECT.
            bsoflags.clear();
        }
        if bstype.contains(',')
            || bsoflags.contains(',')
            || p.str("tgt_bsopts").contains(',') && bstype != "rbd"
        {
            return Err(OcfError::configured(
                "tgt_bstype, tgt_bsoflags and tgt_bsopts cannot contain commas",
            ));
        }
        for f in bsoflags.split(':').filter(|f| !f.is_empty()) {
            if f != "direct" && f != "sync" {
                return Err(OcfError::configured(format!(
                    "tgt_bsoflags='{bsoflags}': '{f}' is not direct or sync"
                )));
            }
        }
        bstype = bstype.trim().to_string();
        let device_type = device_type(p.str("tgt_device_type"))?;
        let additional = name_values("additional_parameters", p.str("additional_parameters"))?;
        for (k, _) in &additional {
            if matches!(
                k.as_str(),
                "scsi_id" | "scsi_sn" | "path" | "vendor_id" | "product_id"
            ) {
                return Err(OcfError::configured(format!(
                    "additional_parameters sets {k}: use the {k} parameter instead"
                )));
            }
        }
        let liot_bstype = p.str("liot_bstype").to_string();
        if imp == Implementation::LioT
            && !matches!(liot_bstype.as_str(), "block" | "fileio" | "pscsi")
        {
            return Err(OcfError::configured(format!(
                "liot_bstype='{liot_bstype}' is not block, fileio or pscsi"
            )));
        }
        let mut emulate = Vec::new();
        for name in ["emulate_tpu", "emulate_3pc", "emulate_caw"] {
            if p.is_given(name) && !p.str(name).is_empty() {
                emulate.push((name, p.bool(name)));
                if imp == Implementation::Tgt {
                    warnings.push(format!("{name} is ignored by tgt"));
                }
            }
        }
        let lio_initiators: Vec<String> = p
            .str("allowed_initiators")
            .split_whitespace()
            .map(String::from)
            .collect();
        if imp == Implementation::Tgt {
            if !lio_initiators.is_empty() {
                warnings.push(
                    "allowed_initiators of a logical unit is ignored by tgt: set it on the iSCSITarget"
                        .to_string(),
                );
            }
            if p.is_given("liot_bstype") {
                warnings.push("liot_bstype is ignored by tgt".to_string());
            }
        }
        Ok(LuConfig {
            target_iqn,
            lun,
            path,
            scsi_id,
            scsi_sn,
            vendor_id,
            product_id,
            bstype,
            bsoflags,
            bsopts: p.str("tgt_bsopts").to_string(),
            device_type,
            additional,
            lio_initiators,
            liot_bstype,
            emulate,
            warnings,
        })
    }

    /// Whether the backing store needs a local path (all but rbd).
    pub fn needs_path(&self) -> bool {
        self.bstype != "rbd"
    }

    /// The body of the LU creation request.
    pub fn create_body(&self) -> String {
        let mut b = format!("path={}", self.path);
        for (k, v) in [
            ("bstype", &self.bstype),
            ("bsopts", &self.bsopts),
            ("bsoflags", &self.bsoflags),
        ] {
            if !v.is_empty() {
                b.push_str(&format!(",{k}={v}"));
            }
        }
        b
    }

    /// The body of the identity request that follows creation.
    pub fn identity_body(&self) -> String {
        let mut b = format!("scsi_id={},scsi_sn={}", self.scsi_id, self.scsi_sn);
        if !self.vendor_id.is_empty() {
            b.push_str(&format!(",vendor_id={}", self.vendor_id));
        }
        if !self.product_id.is_empty() {
            b.push_str(&format!(",product_id={}", self.product_id));
        }
        for (k, v) in &self.additional {
            b.push_str(&format!(",{k}={v}"));
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocf::OcfEnv;

    fn params(table: &'static [ocf::ParamSpec], kv: &[(&str, &str)]) -> Params {
        let env = OcfEnv::from_vars(
            kv.iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        Params::from_env(table, &env)
    }

    fn target(kv: &[(&str, &str)]) -> Result<TargetConfig> {
        TargetConfig::from_params(&params(crate::meta::TARGET_PARAMS, kv), Implementation::Tgt)
    }

    fn lu(kv: &[(&str, &str)]) -> Result<LuConfig> {
        LuConfig::from_params(
            &params(crate::meta::LU_PARAMS, kv),
            "p_lu1",
            Implementation::Tgt,
        )
    }

    #[test]
    fn tid_must_be_a_positive_integer() {
        let base = [("iqn", "iqn.2026-01.t:a")];
        for bad in ["abc", "0", "-1", "1.5", "99999999999"] {
            let e = target(&[base[0], ("tid", bad)]).unwrap_err();
            assert_eq!(e.exit_code(), ocf::ExitCode::ErrConfigured, "{bad}");
            assert!(e.reason().contains("tid"), "{e}");
        }
        assert!(target(&base).is_err(), "tgt needs a tid");
        assert_eq!(target(&[base[0], ("tid", "7")]).unwrap().tid, Some(7));
    }

    #[test]
    fn empty_allowed_initiators_means_everyone() {
        let t = target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            ("allowed_initiators", ""),
        ])
        .unwrap();
        assert_eq!(t.initiators, vec![Initiator::Address("ALL".into())]);
    }

    #[test]
    fn initiators_are_bound_by_kind() {
        let t = target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            (
                "allowed_initiators",
                "iqn.1991-05.com.microsoft:win1 10.0.0.5 10.1.0.0/16 fe80::1 eui.0123456789ABCDEF",
            ),
        ])
        .unwrap();
        let bodies: Vec<String> = t.initiators.iter().map(Initiator::body).collect();
        assert_eq!(
            bodies,
            vec![
                "initiator-name=iqn.1991-05.com.microsoft:win1",
                "initiator-address=10.0.0.5",
                "initiator-address=10.1.0.0/16",
                "initiator-address=fe80::1",
                "initiator-name=eui.0123456789ABCDEF",
            ]
        );
        for bad in ["host.example", "10.0.0.1/33", "iqn.a,b"] {
            assert!(Initiator::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iqn_chap_and_parameters() {
        assert!(target(&[("iqn", "iqn.2026-01.t:a b"), ("tid", "1")]).is_err());
        assert!(target(&[("iqn", "iqn_x"), ("tid", "1")]).is_err());
        let e = target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            ("incoming_username", "u"),
        ])
        .unwrap_err();
        assert!(e.reason().contains("incoming_password"));
        let t = target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            ("incoming_username", "u"),
            ("incoming_password", "secretsecret"),
            (
                "additional_parameters",
                "MaxRecvDataSegmentLength=65536 ImmediateData=No",
            ),
            ("portals", "10.0.0.1:3260"),
        ])
        .unwrap();
        assert_eq!(t.chap, Some(("u".into(), "secretsecret".into())));
        assert_eq!(t.additional.len(), 2);
        assert!(t.warnings.iter().any(|w| w.contains("portals")));
        assert!(target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            ("additional_parameters", "novalue")
        ])
        .is_err());
        assert!(target(&[
            ("iqn", "iqn.2026-01.t:a"),
            ("tid", "1"),
            ("portals", "nohost")
        ])
        .is_err());
    }

    #[test]
    fn implementations() {
        let none = |_: &str| false;
        assert_eq!(implementation("tgt", none), Ok(Implementation::Tgt));
        let e = implementation("iet", none).unwrap_err();
        assert!(e.reason().contains("implementation=tgt"), "{e}");
        assert!(implementation("lio", none)
            .unwrap_err()
            .reason()
            .contains("lio-t"));
        assert_eq!(
            implementation("", |p| p == "targetcli"),
            Ok(Implementation::LioT)
        );
        assert_eq!(implementation("", |p| p == "tgtd"), Ok(Implementation::Tgt));
        assert_eq!(
            implementation("", none).unwrap_err().exit_code(),
            ocf::ExitCode::ErrInstalled
        );
        assert!(implementation("scst", none).is_err());
    }

    #[test]
    fn lu_defaults_match_the_reference() {
        let l = lu(&[
            ("target_iqn", "iqn.2026-01.t:a"),
            ("lun", "1"),
            ("path", "/dev/x"),
        ])
        .unwrap();
        assert_eq!(l.scsi_id, "p_lu1");
        // echo -n p_lu1 | md5sum | cut -c1-8
        assert_eq!(l.scsi_sn, crate::md5::hex(b"p_lu1")[..8]);
        assert_eq!(l.create_body(), "path=/dev/x");
        assert_eq!(
            l.identity_body(),
            format!("scsi_id=p_lu1,scsi_sn={}", l.scsi_sn)
        );
        let long = LuConfig::from_params(
            &params(
                crate::meta::LU_PARAMS,
                &[
                    ("target_iqn", "iqn.2026-01.t:a"),
                    ("lun", "1"),
                    ("path", "/dev/x"),
                ],
            ),
            "a_very_long_resource_name",
            Implementation::Tgt,
        )
        .unwrap();
        assert_eq!(long.scsi_id, "a_very_long_reso");
    }

    #[test]
    fn lu_validation() {
        let base = [("target_iqn", "iqn.2026-01.t:a"), ("path", "/dev/x")];
        for bad in ["abc", "0", "-1", "70000"] {
            assert!(lu(&[base[0], base[1], ("lun", bad)]).is_err(), "{bad}");
        }
        assert!(lu(&[base[0], base[1], ("lun", "1"), ("scsi_id", &"x".repeat(37))]).is_err());
        assert!(lu(&[base[0], base[1], ("lun", "1"), ("scsi_sn", "a,b")]).is_err());
        assert!(lu(&[
            base[0],
            base[1],
            ("lun", "1"),
            ("tgt_device_type", "floppy")
        ])
        .is_err());
        assert!(lu(&[base[0], base[1], ("lun", "1"), ("tgt_bsoflags", "fast")]).is_err());
        assert!(lu(&[
            base[0],
            base[1],
            ("lun", "1"),
            ("additional_parameters", "scsi_id=x")
        ])
        .is_err());
        let l = lu(&[
            base[0],
            base[1],
            ("lun", "2"),
            ("tgt_bstype", "aio"),
            ("tgt_bsoflags", "direct"),
            ("vendor_id", "SHIMAI-LONG"),
            ("product_id", "disk"),
            ("additional_parameters", "readonly=1"),
        ])
        .unwrap();
        assert_eq!(l.create_body(), "path=/dev/x,bstype=aio");
        assert!(l
            .identity_body()
            .ends_with(",vendor_id=SHIMAI-LONG,product_id=disk,readonly=1"));
        assert!(l.warnings.iter().any(|w| w.contains("vendor_id")));
    }
}
