//! implementation=lio-t: LIO configured through targetcli, planned as pure
//! functions from the configuration (unit-tested on their plans), then run.
//!
//! LIO needs the kernel's target_core modules and configfs; where they are
//! missing (as on kernels without loadable modules) every action that would
//! change something fails with OCF_ERR_INSTALLED and says so.

use std::path::Path;

use ocf::{Context, ExitCode, OcfError, Result};

use crate::config::{Initiator, LuConfig, TargetConfig};

pub const CONFIGFS: &str = "/sys/kernel/config/target";

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `targetcli <args...>` (one command in targetcli's batch form).
    Targetcli(Vec<String>),
    /// Write `value` to `<CONFIGFS>/core/<hba>_*/<name>/<rel>`, `hba` given by the backstore type.
    Configfs {
        hba: &'static str,
        name: String,
        rel: String,
        value: String,
    },
}

fn tc(args: &[&str]) -> Step {
    Step::Targetcli(args.iter().map(|s| s.to_string()).collect())
}

/// The configfs HBA directory prefix of a backstore type (the reference
/// hard-codes iblock_* and so misses fileio backstores).
pub fn hba(bstype: &str) -> &'static str {
    match bstype {
        "fileio" => "fileio",
        "pscsi" => "pscsi",
        _ => "iblock",
    }
}

pub fn target_start_plan(cfg: &TargetConfig) -> Result<Vec<Step>> {
    let iqn = cfg.iqn.as_str();
    let tpg = format!("/iscsi/{iqn}/tpg1");
    let mut plan = vec![
        tc(&["/iscsi", "set", "global", "auto_add_default_portal=false"]),
        tc(&["/iscsi", "create", iqn]),
    ];
    for p in &cfg.portals {
        let (ip, port) = p.rsplit_once(':').unwrap_or((p, "3260"));
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        plan.push(tc(&[&format!("{tpg}/portals"), "create", ip, port]));
    }
    for p in &cfg.iser_portals {
        plan.push(tc(&[
            &format!("{tpg}/portals/{p}"),
            "enable_iser",
            "boolean=true",
        ]));
    }
    for (k, v) in &cfg.additional {
        plan.push(tc(&[&tpg, "set", "parameter", &format!("{k}={v}")]));
    }
    let open = cfg.initiators == vec![Initiator::Address("ALL".to_string())];
    if !open {
        for i in &cfg.initiators {
            match i {
                Initiator::Name(n) => plan.push(tc(&[&format!("{tpg}/acls"), "create", n])),
                Initiator::Address(a) => {
                    return Err(OcfError::configured(format!(
                        "allowed_initiators: lio-t admits initiators by name only, not by address ({a})"
                    )))
                }
            }
        }
    }
    let auth = if cfg.chap.is_some() { "1" } else { "0" };
    let mut attrs = vec![
        format!("authentication={auth}"),
        "demo_mode_write_protect=0".to_string(),
    ];
    if open {
        attrs.push("generate_node_acls=1".to_string());
        attrs.push("cache_dynamic_acls=1".to_string());
    }
    let mut set = vec![tpg.clone(), "set".to_string(), "attribute".to_string()];
    set.extend(attrs);
    plan.push(Step::Targetcli(set));
    if let Some((u, p)) = &cfg.chap {
        plan.push(tc(&[
            &tpg,
            "set",
            "auth",
            &format!("userid={u}"),
            &format!("password={p}"),
        ]));
    }
    Ok(plan)
}

pub fn target_stop_plan(cfg: &TargetConfig) -> Vec<Step> {
    vec![tc(&["/iscsi", "delete", &cfg.iqn])]
}

/// The backstore name of a logical unit: its resource name (':' of clone
/// instances replaced, which targetcli does not accept).
pub fn backstore_name(instance: &str) -> String {
    instance.replace(':', "_")
}

pub fn lu_start_plan(cfg: &LuConfig, instance: &str) -> Vec<Step> {
    let name = backstore_name(instance);
    let bs = cfg.liot_bstype.as_str();
    let tpg = format!("/iscsi/{}/tpg1", cfg.target_iqn);
    let mut plan = vec![match bs {
        "fileio" => tc(&[
            "/backstores/fileio",
            "create",
            &format!("name={name}"),
            &format!("file_or_dev={}", cfg.path),
            &format!("wwn={}", cfg.scsi_sn),
        ]),
        "pscsi" => tc(&[
            "/backstores/pscsi",
            "create",
            &format!("name={name}"),
            &format!("dev={}", cfg.path),
        ]),
        _ => tc(&[
            "/backstores/block",
            "create",
            &format!("name={name}"),
            &format!("dev={}", cfg.path),
            &format!("wwn={}", cfg.scsi_sn),
        ]),
    }];
    if !cfg.product_id.is_empty() {
        plan.push(Step::Configfs {
            hba: hba(bs),
            name: name.clone(),
            rel: "wwn/product_id".into(),
            value: cfg.product_id.clone(),
        });
    }
    for (attr, on) in &cfg.emulate {
        plan.push(Step::Configfs {
            hba: hba(bs),
            name: name.clone(),
            rel: format!("attrib/{attr}"),
            value: if *on { "1" } else { "0" }.into(),
        });
    }
    let lun = cfg.lun.to_string();
    plan.push(tc(&[
        &format!("{tpg}/luns"),
        "create",
        &format!("/backstores/{bs}/{name}"),
        &lun,
    ]));
    for i in &cfg.lio_initiators {
        plan.push(tc(&[
            &format!("{tpg}/acls"),
            "create",
            i,
            "add_mapped_luns=False",
        ]));
        plan.push(tc(&[&format!("{tpg}/acls/{i}"), "create", &lun, &lun]));
    }
    plan
}

pub fn lu_stop_plan(cfg: &LuConfig, instance: &str) -> Vec<Step> {
    let name = backstore_name(instance);
    vec![
        tc(&[
            &format!("/iscsi/{}/tpg1/luns", cfg.target_iqn),
            "delete",
            &format!("lun{}", cfg.lun),
        ]),
        tc(&[&format!("/backstores/{}", cfg.liot_bstype), "delete", &name]),
    ]
}

fn require_lio() -> Result<()> {
    if Path::new(CONFIGFS).is_dir() {
        Ok(())
    } else {
        Err(OcfError::installed(format!(
            "{CONFIGFS} does not exist: LIO needs configfs and the target_core kernel modules, \
             which this node lacks; use implementation=tgt"
        )))
    }
}

fn run(ctx: &Context, plan: &[Step]) -> Result<()> {
    require_lio()?;
    let tcli = ocf::command::require_binary(&ctx.env, "targetcli")?;
    let deadline = ctx.deadline();
    for step in plan {
        match step {
            Step::Targetcli(args) => {
                let out =
                    ocf::command::run(std::process::Command::new(&tcli).args(args), &deadline)?;
                if !out.success() {
                    return Err(OcfError::generic(format!(
                        "targetcli {}: {}",
                        args.join(" "),
                        out.one_line()
                    )));
                }
            }
            Step::Configfs {
                hba,
                name,
                rel,
                value,
            } => {
                let core = Path::new(CONFIGFS).join("core");
                let dir = std::fs::read_dir(&core)
                    .map_err(|e| OcfError::generic(format!("{}: {e}", core.display())))?
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .find(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&format!("{hba}_")))
                            && p.join(name).is_dir()
                    })
                    .ok_or_else(|| {
                        OcfError::generic(format!(
                            "backstore {name} not found under {}",
                            core.display()
                        ))
                    })?;
                let f = dir.join(name).join(rel);
                std::fs::write(&f, value)
                    .map_err(|e| OcfError::generic(format!("{}: {e}", f.display())))?;
            }
        }
    }
    Ok(())
}

fn target_running(iqn: &str) -> bool {
    std::fs::read_to_string(format!("{CONFIGFS}/iscsi/{iqn}/tpgt_1/enable"))
        .is_ok_and(|s| s.trim() == "1")
}

fn lu_running(cfg: &LuConfig) -> bool {
    let dir = format!(
        "{CONFIGFS}/iscsi/{}/tpgt_1/lun/lun_{}",
        cfg.target_iqn, cfg.lun
    );
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.filter_map(|e| e.ok()).any(|e| {
            std::fs::read_to_string(e.path().join("udev_path")).is_ok_and(|p| p.trim() == cfg.path)
        })
    })
}

pub fn target_action(ctx: &Context, cfg: &TargetConfig) -> Result<ExitCode> {
    use ocf::Action::*;
    match ctx.action {
        Monitor | Status => Ok(if target_running(&cfg.iqn) {
            ExitCode::Success
        } else {
            ExitCode::NotRunning
        }),
        Start => {
            if target_running(&cfg.iqn) {
                return Ok(ExitCode::Success);
            }
            run(ctx, &target_start_plan(cfg)?)?;
            Ok(ExitCode::Success)
        }
        Stop => {
            if !Path::new(&format!("{CONFIGFS}/iscsi/{}", cfg.iqn)).exists() {
                return Ok(ExitCode::Success);
            }
            run(ctx, &target_stop_plan(cfg))?;
            Ok(ExitCode::Success)
        }
        _ => {
            target_start_plan(cfg)?;
            require_lio()?;
            Ok(ExitCode::Success)
        }
    }
}

pub fn lu_action(ctx: &Context, cfg: &LuConfig) -> Result<ExitCode> {
    use ocf::Action::*;
    let instance = ctx.env.instance();
    match ctx.action {
        Monitor | Status => Ok(if lu_running(cfg) {
            ExitCode::Success
        } else {
            ExitCode::NotRunning
        }),
        Start => {
            if lu_running(cfg) {
                return Ok(ExitCode::Success);
            }
            run(ctx, &lu_start_plan(cfg, instance))?;
            Ok(ExitCode::Success)
        }
        Stop => {
            if !Path::new(CONFIGFS).is_dir() {
                return Ok(ExitCode::Success);
            }
            run(ctx, &lu_stop_plan(cfg, instance))?;
            Ok(ExitCode::Success)
        }
        _ => {
            require_lio()?;
            Ok(ExitCode::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Implementation;
    use ocf::{OcfEnv, Params};

    fn params(table: &'static [ocf::ParamSpec], kv: &[(&str, &str)]) -> Params {
        let env = OcfEnv::from_vars(
            kv.iter()
                .map(|(k, v)| (format!("OCF_RESKEY_{k}"), v.to_string())),
        );
        Params::from_env(table, &env)
    }

    fn lines(plan: &[Step]) -> Vec<String> {
        plan.iter()
            .map(|s| match s {
                Step::Targetcli(a) => a.join(" "),
                Step::Configfs {
                    hba,
                    name,
                    rel,
                    value,
                } => format!("configfs {hba}_*/{name}/{rel}={value}"),
            })
            .collect()
    }

    #[test]
    fn open_target_with_chap() {
        let p = params(
            crate::meta::TARGET_PARAMS,
            &[
                ("iqn", "iqn.2026-01.t:a"),
                ("incoming_username", "u"),
                ("incoming_password", "p"),
            ],
        );
        let cfg = TargetConfig::from_params(&p, Implementation::LioT).unwrap();
        assert_eq!(
            lines(&target_start_plan(&cfg).unwrap()),
            vec![
                "/iscsi set global auto_add_default_portal=false",
                "/iscsi create iqn.2026-01.t:a",
                "/iscsi/iqn.2026-01.t:a/tpg1/portals create 0.0.0.0 3260",
                "/iscsi/iqn.2026-01.t:a/tpg1 set attribute authentication=1 demo_mode_write_protect=0 generate_node_acls=1 cache_dynamic_acls=1",
                "/iscsi/iqn.2026-01.t:a/tpg1 set auth userid=u password=p",
            ]
        );
        assert_eq!(
            lines(&target_stop_plan(&cfg)),
            vec!["/iscsi delete iqn.2026-01.t:a"]
        );
    }

    #[test]
    fn restricted_target_uses_acls_and_refuses_addresses() {
        let p = params(
            crate::meta::TARGET_PARAMS,
            &[
                ("iqn", "iqn.2026-01.t:a"),
                ("allowed_initiators", "iqn.1991-05.com.microsoft:w1"),
                ("portals", "10.0.0.1:3260 [fd00::1]:3261"),
                ("iser_portals", "10.0.0.1:3260"),
            ],
        );
        let cfg = TargetConfig::from_params(&p, Implementation::LioT).unwrap();
        let l = lines(&target_start_plan(&cfg).unwrap());
        assert!(l.contains(&"/iscsi/iqn.2026-01.t:a/tpg1/portals create fd00::1 3261".to_string()));
        assert!(l.contains(
            &"/iscsi/iqn.2026-01.t:a/tpg1/portals/10.0.0.1:3260 enable_iser boolean=true"
                .to_string()
        ));
        assert!(l.contains(
            &"/iscsi/iqn.2026-01.t:a/tpg1/acls create iqn.1991-05.com.microsoft:w1".to_string()
        ));
        assert!(l
            .last()
            .unwrap()
            .ends_with("authentication=0 demo_mode_write_protect=0"));
        let p = params(
            crate::meta::TARGET_PARAMS,
            &[
                ("iqn", "iqn.2026-01.t:a"),
                ("allowed_initiators", "10.0.0.9"),
            ],
        );
        let cfg = TargetConfig::from_params(&p, Implementation::LioT).unwrap();
        assert!(target_start_plan(&cfg)
            .unwrap_err()
            .reason()
            .contains("by name only"));
    }

    #[test]
    fn fileio_lu_attributes_go_to_the_fileio_hba() {
        let p = params(
            crate::meta::LU_PARAMS,
            &[
                ("target_iqn", "iqn.2026-01.t:a"),
                ("lun", "0"),
                ("path", "/srv/lu.img"),
                ("liot_bstype", "fileio"),
                ("product_id", "shimai"),
                ("emulate_tpu", "true"),
                ("scsi_sn", "abcd1234"),
                ("allowed_initiators", "iqn.1991-05.com.microsoft:w1"),
            ],
        );
        let cfg = LuConfig::from_params(&p, "lu:1", Implementation::LioT).unwrap();
        assert_eq!(
            lines(&lu_start_plan(&cfg, "lu:1")),
            vec![
                "/backstores/fileio create name=lu_1 file_or_dev=/srv/lu.img wwn=abcd1234",
                "configfs fileio_*/lu_1/wwn/product_id=shimai",
                "configfs fileio_*/lu_1/attrib/emulate_tpu=1",
                "/iscsi/iqn.2026-01.t:a/tpg1/luns create /backstores/fileio/lu_1 0",
                "/iscsi/iqn.2026-01.t:a/tpg1/acls create iqn.1991-05.com.microsoft:w1 add_mapped_luns=False",
                "/iscsi/iqn.2026-01.t:a/tpg1/acls/iqn.1991-05.com.microsoft:w1 create 0 0",
            ]
        );
        assert_eq!(
            lines(&lu_stop_plan(&cfg, "lu:1")),
            vec![
                "/iscsi/iqn.2026-01.t:a/tpg1/luns delete lun0",
                "/backstores/fileio delete lu_1"
            ]
        );
    }

    #[test]
    fn block_lu() {
        let p = params(
            crate::meta::LU_PARAMS,
            &[
                ("target_iqn", "iqn.2026-01.t:a"),
                ("lun", "1"),
                ("path", "/dev/shimai0"),
            ],
        );
        let cfg = LuConfig::from_params(&p, "p_lu", Implementation::LioT).unwrap();
        let l = lines(&lu_start_plan(&cfg, "p_lu"));
        assert!(l[0].starts_with("/backstores/block create name=p_lu dev=/dev/shimai0 wwn="));
        assert_eq!(hba("block"), "iblock");
    }
}
