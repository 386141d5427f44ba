//! SCENARIOS.md 4 with replication instead of shared storage, on the Pacemaker test bed:
//! each node runs its own shimaid (in the node's namespaces, on the LAN address 10.77.0.N,
//! with its own sparse backing file), the resource is a promotable `ocf:shimai:drbd` clone,
//! and the web group (IPaddr2, Filesystem on the replicated device, Apache) follows the
//! Promoted role.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shimai_tests::cluster::{Cluster, Provider};

/// The group's name (as the other cluster suites).
pub const GROUP: &str = "web";

/// Everything the replicated web stack needs, made before Pacemaker manages it.
pub struct DrbdWeb {
    /// The resource name, unique per test process (it also names leftover loop devices).
    pub res: String,
    pub conf: PathBuf,
    /// The configured `device`: a path in each node's private /run.
    pub device: String,
    pub docroot: PathBuf,
    pub apache_conf: PathBuf,
    pub page: String,
    /// sha256 of a file of random data written before any failover.
    pub data_sum: String,
    pub images: [PathBuf; 2],
}

fn bin(name: &str) -> String {
    shimai_tests::bin(name).display().to_string()
}

/// `shimaiadm VERB RES` on node `i`.
pub fn adm(cluster: &Cluster, i: usize, conf: &Path, args: &[&str]) -> Result<String, String> {
    let mut all = vec!["-c", conf.to_str().unwrap_or_default()];
    all.extend_from_slice(args);
    cluster
        .node(i)
        .exec(&bin("shimaiadm"), &all)
        .map_err(|e| e.to_string())
}

/// Waits until `shimaiadm VERB RES` on node `i` prints `want`.
pub fn wait_adm(
    cluster: &Cluster,
    i: usize,
    conf: &Path,
    verb: &str,
    res: &str,
    want: &str,
    secs: u64,
) {
    let t = Instant::now();
    let mut last = String::new();
    while t.elapsed() < Duration::from_secs(secs) {
        match adm(cluster, i, conf, &[verb, res]) {
            Ok(out) if out.trim() == want => return,
            Ok(out) => last = out,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "node{}: {verb} {res} is not {want} after {secs} s: {last}",
        i + 1
    );
}

/// Waits until no shimaid answers for the resource on node `i`.
pub fn wait_down(cluster: &Cluster, i: usize, conf: &Path, res: &str, secs: u64) {
    let t = Instant::now();
    while adm(cluster, i, conf, &["role", res]).is_ok() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "node{}: {res} still up after {secs} s",
            i + 1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The drbd agent beside IPaddr2 and Filesystem in the nodes' `resource.d/shimai`: a
/// symlink to the built binary, so it finds `shimaid` beside it.
pub fn install_agent(provider: &Provider) {
    let Some(dir) = provider.agents_dir() else {
        panic!("the replicated stack needs shimai's agents (SHIMAI_CLUSTER_PROVIDER=heartbeat has no drbd)");
    };
    let link = dir.join("drbd");
    let tmp = dir.join(format!(".drbd.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(shimai_tests::bin("ocf-drbd"), &tmp).expect("link the drbd agent");
    std::fs::rename(&tmp, &link).expect("install the drbd agent");
}

impl DrbdWeb {
    /// Writes the configuration (replication on `SUBNET.N`, `extra` in the resource
    /// block), creates metadata, brings both nodes up by hand once to make the file system
    /// (page and data file) on node1, then downs them again.
    pub fn prepare(cluster: &Cluster, subnet: &str, extra: &str) -> DrbdWeb {
        let root = cluster.root().to_path_buf();
        let res = format!("cl{}", std::process::id());
        let images = [root.join("node1.img"), root.join("node2.img")];
        let mut hosts = String::new();
        for (i, img) in images.iter().enumerate() {
            std::fs::File::create(img)
                .and_then(|f| f.set_len(64 << 20))
                .expect("backing file");
            hosts.push_str(&format!(
                "  on node{n} {{ device /run/{res}.dev minor 0; disk {d}; address {subnet}.{n}:7789; meta-disk internal; }}\n",
                n = i + 1,
                d = img.display()
            ));
        }
        let conf = root.join("shimai.conf");
        std::fs::write(
            &conf,
            format!(
                "resource {res} {{\n  net {{ connect-int 1; ping-int 1; }}\n  disk {{ resync-rate 400M; }}\n  options {{ attach fuse; }}\n{extra}\n{hosts}}}\n"
            ),
        )
        .unwrap();
        for i in 0..2 {
            let out = shimai_tests::run(Command::new(bin("shimaid")).args([
                "-c",
                conf.to_str().unwrap(),
                "--node",
                &format!("node{}", i + 1),
                "--create-md",
                &res,
            ]));
            assert!(
                out.status.success(),
                "create-md: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let docroot = root.join("www");
        std::fs::create_dir_all(&docroot).unwrap();
        let page = format!(
            "<html><body>shimai test bed: served from the replicated disk ({})</body></html>\n",
            shimai_tests::unique("page")
        );
        let device = format!("/run/{res}.dev");
        for i in 0..2 {
            adm(cluster, i, &conf, &["up", &res])
                .unwrap_or_else(|e| panic!("up on node{}: {e}", i + 1));
        }
        wait_adm(cluster, 0, &conf, "cstate", &res, "Connected", 30);
        adm(
            cluster,
            0,
            &conf,
            &["new-current-uuid", "--clear-bitmap", &res],
        )
        .unwrap();
        wait_adm(cluster, 1, &conf, "dstate", &res, "UpToDate/UpToDate", 20);
        adm(cluster, 0, &conf, &["primary", &res]).unwrap();
        let doc = docroot.display().to_string();
        let n1 = cluster.node(0);
        n1.exec("mkfs.ext4", &["-q", "-F", &device])
            .expect("mkfs on the replicated device");
        n1.exec("mount", &[&device, &doc]).expect("mount");
        let script = format!(
            "printf %s '{page}' > {doc}/index.html && chmod 755 {doc} && chmod 644 {doc}/index.html && \
             head -c 3000000 /dev/urandom > {doc}/data && sync -f {doc}/data && sha256sum {doc}/data"
        );
        let sum = n1.exec("sh", &["-c", &script]);
        let umount = n1.exec("umount", &[&doc]);
        let data_sum = sum
            .expect("write the page")
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        umount.expect("umount");
        adm(cluster, 0, &conf, &["secondary", &res]).unwrap();
        for i in 0..2 {
            adm(cluster, i, &conf, &["down", &res]).unwrap();
        }
        let apache_conf = root.join("apache.conf");
        std::fs::write(&apache_conf, apache_conf_text(&doc)).unwrap();
        DrbdWeb {
            res,
            conf,
            device,
            docroot,
            apache_conf,
            page,
            data_sum,
            images,
        }
    }

    /// The Pacemaker configuration (crm syntax): the promotable clone, the group, and the
    /// group colocated with and ordered after the Promoted role.
    pub fn crm(&self, provider: &str) -> String {
        format!(
            "primitive p_drbd ocf:{provider}:drbd \\\n\
             \tparams drbd_resource={res} drbdconf={conf} \\\n\
             \top monitor interval=10s role=Master timeout=20s \\\n\
             \top monitor interval=20s role=Slave timeout=20s \\\n\
             \top start timeout=60s op promote timeout=60s op demote timeout=60s op stop timeout=60s\n\
             clone ms_drbd p_drbd meta promotable=true promoted-max=1 promoted-node-max=1 clone-max=2 clone-node-max=1 notify=true\n\
             primitive web-ip ocf:shimai:IPaddr2 \\\n\
             \tparams ip={vip} cidr_netmask=24 nic=eth0 \\\n\
             \top monitor interval=5s timeout=20s\n\
             primitive web-fs ocf:shimai:Filesystem \\\n\
             \tparams device={dev} directory={doc} fstype=ext4 \\\n\
             \top monitor interval=10s timeout=40s\n\
             primitive web-server ocf:heartbeat:apache \\\n\
             \tparams configfile={apache} statusurl=\"http://localhost/server-status\" \\\n\
             \top monitor interval=5s timeout=20s\n\
             group {GROUP} web-ip web-fs web-server\n\
             colocation web-on-drbd inf: {GROUP} ms_drbd:Master\n\
             order drbd-before-web Mandatory: ms_drbd:promote {GROUP}:start\n",
            res = self.res,
            conf = self.conf.display(),
            vip = shimai_tests::cluster::web::vip(),
            dev = self.device,
            doc = self.docroot.display(),
            apache = self.apache_conf.display(),
        )
    }

    /// The page on the virtual IP, if it is the replicated disk's.
    pub fn fetch(&self, cluster: &Cluster) -> Result<(), String> {
        let url = format!("http://{}/", shimai_tests::cluster::web::vip());
        let body = cluster
            .http_get(&url, Duration::from_millis(800))
            .map_err(|e| e.to_string())?;
        if body == self.page {
            Ok(())
        } else {
            Err(format!("served {body:?}"))
        }
    }

    pub fn wait_page(&self, cluster: &Cluster, secs: u64) -> Duration {
        let t = Instant::now();
        let mut last = String::new();
        while t.elapsed() < Duration::from_secs(secs) {
            match self.fetch(cluster) {
                Ok(()) => return t.elapsed(),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "page not served within {secs} s: {last}\n{}",
            cluster.status().map(|s| s.to_string()).unwrap_or_default()
        );
    }

    /// sha256 of the data file as node `i` sees it in the mounted file system.
    pub fn data_sum_on(&self, cluster: &Cluster, i: usize) -> String {
        let f = self.docroot.join("data").display().to_string();
        cluster
            .node(i)
            .exec("sha256sum", &[&f])
            .map(|o| o.split_whitespace().next().unwrap_or_default().to_string())
            .unwrap_or_else(|e| panic!("sha256sum on node{}: {e}", i + 1))
    }
}

/// Detaches, on drop, loop devices left behind by a node killed while Primary (its
/// nbdfuse died with it; the loop device is the kernel's and outlives the node).
pub struct LoopReaper(pub String);

impl Drop for LoopReaper {
    fn drop(&mut self) {
        // While the node lived the file was RUN_DIR/RES.fuse/RES; once its mount
        // namespace is gone the kernel shows only the name inside the FUSE mount.
        let marker = format!("/run/shimai/{}.fuse", self.0);
        let orphan = format!("/{}", self.0);
        let Ok(entries) = std::fs::read_dir("/sys/block") else {
            return;
        };
        for e in entries.flatten() {
            let bf = e.path().join("loop/backing_file");
            if std::fs::read_to_string(&bf)
                .is_ok_and(|b| b.starts_with(&marker) || b.trim_end() == orphan)
            {
                let dev = format!("/dev/{}", e.file_name().to_string_lossy());
                let _ = Command::new("losetup").arg("-d").arg(&dev).status();
            }
        }
    }
}

fn apache_conf_text(docroot: &str) -> String {
    let m = "/usr/lib/apache2/modules";
    format!(
        "ServerRoot /etc/apache2\nServerName localhost\nListen 80\n\
         LoadModule mpm_event_module {m}/mod_mpm_event.so\n\
         LoadModule authz_core_module {m}/mod_authz_core.so\n\
         LoadModule authz_host_module {m}/mod_authz_host.so\n\
         LoadModule dir_module {m}/mod_dir.so\n\
         LoadModule mime_module {m}/mod_mime.so\n\
         LoadModule status_module {m}/mod_status.so\n\
         User www-data\nGroup www-data\nDefaultRuntimeDir /run/apache2\n\
         PidFile /run/apache2/httpd.pid\nErrorLog /var/log/apache2/error.log\n\
         TypesConfig /etc/mime.types\nDirectoryIndex index.html\nDocumentRoot {docroot}\n\
         <Directory {docroot}>\n    Require all granted\n</Directory>\n\
         <Location /server-status>\n    SetHandler server-status\n    Require local\n</Location>\n"
    )
}

/// What every replicated-stack suite runs on the test bed.
const PROGRAMS: &[&str] = &[
    "corosync",
    "pacemakerd",
    "crm",
    "crm_mon",
    "apache2",
    "curl",
    "perl",
    "nsenter",
    "unshare",
    "nbdfuse",
    "losetup",
    "mkfs.ext4",
];

/// Root and every program the suite needs (the common set plus `extra`);
/// under `CI=true` a missing one fails the test, elsewhere it skips loudly.
pub fn can_run(test: &str, extra: &[&str]) -> bool {
    shimai_tests::have_root(test)
        && PROGRAMS
            .iter()
            .chain(extra)
            .all(|p| shimai_tests::have_program(test, p))
}

/// A two-node test bed with the drbd agent installed for `Provider::from_env()`.
pub fn two_node_cluster() -> Cluster {
    let provider = Provider::from_env();
    install_agent(&provider);
    Cluster::start(shimai_tests::cluster::ClusterOptions {
        nodes: 2,
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("cluster start: {e}"))
}
