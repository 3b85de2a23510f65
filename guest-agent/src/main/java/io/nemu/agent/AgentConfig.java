package io.nemu.agent;

import io.nemu.contract.GuestContract;
import java.nio.file.Path;
import java.util.List;

/**
 * Where the agent keeps and finds things. The defaults are the guest's; tests point them at
 * temporary directories so that nothing of the host is touched.
 *
 * @param stateDir bundles, console sockets, crun state
 * @param sharedDir where the host's shared directory is mounted (container rootfs are below)
 * @param crun crun binary (looked up on PATH)
 * @param cgroupRoot cgroup mount (v1 hierarchies below it, or the v2 unified tree)
 * @param cgroupParent parent cgroup of containers whose spec names none
 * @param ipCommand how to run busybox/iproute2 {@code ip}
 * @param resolvConf the guest's resolv.conf, written by CreateSandbox
 * @param sysfs sysfs root, for CPU/memory onlining and memory block size
 * @param copyFileBase CopyFile only writes below this directory
 * @param setHostname whether CreateSandbox may set the hostname (never on a test host)
 */
public record AgentConfig(Path stateDir, Path sharedDir, String crun, Path cgroupRoot, String cgroupParent,
        List<String> ipCommand, Path resolvConf, Path sysfs, Path copyFileBase, boolean setHostname) {

    public static final String VERSION = "0.1.0";
    public static final String API_VERSION = "0.0.1";

    public static AgentConfig guest() {
        return new AgentConfig(Path.of("/run/nemu-agent"), Path.of(GuestContract.SHARED_DIR),
                "crun", Path.of("/sys/fs/cgroup"), "/nemu", List.of("ip"), Path.of("/etc/resolv.conf"),
                Path.of("/sys"), Path.of(GuestContract.SANDBOX_DIR), true);
    }

    Path containersDir() {
        return stateDir.resolve("containers");
    }

    Path crunRoot() {
        return stateDir.resolve("crun");
    }

    Path socketsDir() {
        return stateDir.resolve("sock");
    }
}
