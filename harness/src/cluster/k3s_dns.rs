//! DNS for pods of the k3s node container, arranged as k3d does (`K3D_FIX_DNS`).
//!
//! On a user-defined Docker network a container's `/etc/resolv.conf` names Docker's embedded
//! resolver, `127.0.0.11`, reachable only from the container's own network stack. k3s refuses a
//! loopback resolver and gives pods a stub that uses `8.8.8.8` instead (k3s docs, "Advanced
//! Options": resolv.conf viability), which bypasses the user's resolver (VPN, split DNS,
//! `host.docker.internal`) and fails where public DNS is blocked. The node's entrypoint
//! therefore first serves Docker's resolver on the network gateway address too: Docker's NAT
//! rules for `127.0.0.11` are rewritten for the gateway and also applied to traffic arriving
//! from pods (`PREROUTING`), and `resolv.conf` is pointed at the gateway, which k3s accepts.
//! Then it execs k3s. Colima is left alone, as k3d does (k3d PR #1595).

use std::net::Ipv4Addr;

/// The entrypoint script: `$1` is the gateway, the rest are k3s's arguments.
/// `GITOPS_HARNESS_RESOLV_CONF` and `GITOPS_HARNESS_K3S_BIN` exist only so the script can be run
/// against a scratch file and a stand-in in tests.
pub const SCRIPT: &str = r#"set -u
gw="$1"; shift
resolv="${GITOPS_HARNESS_RESOLV_CONF:-/etc/resolv.conf}"
k3s="${GITOPS_HARNESS_K3S_BIN:-/bin/k3s}"
if grep -q '^nameserver 127\.0\.0\.11' "$resolv"; then
  if iptables-save -t nat \
      | sed -e "s/-d 127\.0\.0\.11\//-d $gw\//g" \
            -e 's/^-A OUTPUT \(.*\) -j DOCKER_OUTPUT$/&\n-A PREROUTING \1 -j DOCKER_OUTPUT/' \
            -e "s/--to-source :53/--to-source $gw:53/g" \
      | iptables-restore; then
    # Docker bind-mounts resolv.conf: rewrite it in place rather than renaming over it.
    sed "s/^nameserver 127\.0\.0\.11/nameserver $gw/" "$resolv" > "$resolv.harness" \
      && cat "$resolv.harness" > "$resolv" && rm -f "$resolv.harness"
    echo "gitops-harness: pods resolve through Docker's resolver at $gw" >&2
  else
    echo "gitops-harness: could not redirect Docker's resolver to $gw; k3s will use its fallback resolver" >&2
  fi
fi
exec "$k3s" "$@"
"#;

/// The node container's entrypoint with the DNS fix for the network gateway `gateway`
/// (Docker appends the container's command, k3s's arguments).
pub fn entrypoint(gateway: Ipv4Addr) -> Vec<String> {
    vec!["/bin/sh".to_string(), "-c".to_string(), SCRIPT.to_string(), "gitops-harness-k3s-node".to_string(), gateway.to_string()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's NAT rules for the embedded resolver as `iptables-save -t nat` prints them in a
    /// container on a user-defined network.
    const DOCKER_NAT: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER_OUTPUT - [0:0]
:DOCKER_POSTROUTING - [0:0]
-A OUTPUT -d 127.0.0.11/32 -j DOCKER_OUTPUT
-A POSTROUTING -d 127.0.0.11/32 -j DOCKER_POSTROUTING
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination 127.0.0.11:39235
-A DOCKER_OUTPUT -d 127.0.0.11/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:52766
-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p tcp -m tcp --sport 39235 -j SNAT --to-source :53
-A DOCKER_POSTROUTING -s 127.0.0.11/32 -p udp -m udp --sport 52766 -j SNAT --to-source :53
COMMIT
";

    struct Run {
        restored: String,
        resolv: String,
        k3s_args: String,
        stderr: String,
    }

    /// Run the entrypoint with `sh`, stand-ins for iptables-save/-restore and k3s on PATH, and a
    /// scratch resolv.conf.
    fn run(resolv: &str, restore_fails: bool) -> Run {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write_exe = |name: &str, body: &str| {
            let p = d.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        };
        std::fs::write(d.join("nat.rules"), DOCKER_NAT).unwrap();
        write_exe("iptables-save", &format!("[ \"$*\" = '-t nat' ] || exit 2; cat {}", d.join("nat.rules").display()));
        write_exe("iptables-restore", &format!("cat > {}; exit {}", d.join("restored").display(), u8::from(restore_fails)));
        write_exe("k3s", &format!("echo \"$@\" > {}", d.join("k3s.args").display()));
        std::fs::write(d.join("resolv.conf"), resolv).unwrap();
        let ep = entrypoint(Ipv4Addr::new(172, 18, 0, 1));
        let out = std::process::Command::new(&ep[0])
            .args(&ep[1..])
            .args(["server", "--disable=traefik"])
            .env("PATH", format!("{}:/usr/bin:/bin", d.display()))
            .env("GITOPS_HARNESS_RESOLV_CONF", d.join("resolv.conf"))
            .env("GITOPS_HARNESS_K3S_BIN", d.join("k3s"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let read = |n: &str| std::fs::read_to_string(d.join(n)).unwrap_or_default();
        Run {
            restored: read("restored"),
            resolv: read("resolv.conf"),
            k3s_args: read("k3s.args"),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    #[test]
    fn pods_get_dockers_resolver_on_the_gateway() {
        let r = run("nameserver 127.0.0.11\nsearch example.internal\noptions ndots:0\n", false);
        assert_eq!(r.resolv, "nameserver 172.18.0.1\nsearch example.internal\noptions ndots:0\n");
        // Queries to the gateway reach Docker's resolver, from the node and from pods alike.
        assert!(
            r.restored.contains("-A OUTPUT -d 172.18.0.1/32 -j DOCKER_OUTPUT\n-A PREROUTING -d 172.18.0.1/32 -j DOCKER_OUTPUT\n"),
            "{}",
            r.restored
        );
        assert!(
            r.restored.contains("-A DOCKER_OUTPUT -d 172.18.0.1/32 -p udp -m udp --dport 53 -j DNAT --to-destination 127.0.0.11:52766")
        );
        assert!(r.restored.contains("--sport 52766 -j SNAT --to-source 172.18.0.1:53"), "{}", r.restored);
        assert!(r.restored.ends_with("COMMIT\n"));
        assert_eq!(r.k3s_args.trim(), "server --disable=traefik");
    }

    #[test]
    fn other_resolvers_are_left_alone_and_k3s_still_starts() {
        let r = run("nameserver 192.168.65.7\n", false);
        assert_eq!(r.resolv, "nameserver 192.168.65.7\n");
        assert!(r.restored.is_empty(), "no rules touched: {}", r.restored);
        assert_eq!(r.k3s_args.trim(), "server --disable=traefik");

        let failed = run("nameserver 127.0.0.11\n", true);
        assert_eq!(failed.resolv, "nameserver 127.0.0.11\n", "resolv.conf kept when the rules could not be changed");
        assert!(failed.stderr.contains("could not redirect"), "{}", failed.stderr);
        assert_eq!(failed.k3s_args.trim(), "server --disable=traefik");
    }
}
