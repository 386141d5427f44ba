//! The Pacemaker test bed: real corosync and pacemakerd per node, each node in
//! its own network, mount and UTS namespaces. (Being built.)
