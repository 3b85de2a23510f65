package io.nemu.shim.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.nemu.contract.GuestContract;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.Spec;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.oci.JsonToProto;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The shim's side of CRI's specs (as containerd 1.6.20 writes them): what reaches the agent. */
class CriSpecTest {
    private static final String SHARED = GuestContract.SHARED_DIR;

    private static JsonNode resource(String name) throws Exception {
        try (InputStream in = CriSpecTest.class.getResourceAsStream("/cri/" + name)) {
            return Bundle.json().readTree(in);
        }
    }

    private static Spec.Builder toSpec(JsonNode json, List<String> skipped) {
        Spec.Builder b = Spec.newBuilder();
        JsonToProto.merge(json, b, skipped::add);
        return b;
    }

    private static Map<String, Mount> byDestination(Spec.Builder s) {
        Map<String, Mount> m = new LinkedHashMap<>();
        s.getMountsList().forEach(x -> m.put(x.getDestination(), x));
        return m;
    }

    @Test
    void appContainerSpecKeepsWhatTheGuestNeedsAndSharesHostPaths() throws Exception {
        List<String> skipped = new ArrayList<>();
        Spec.Builder s = toSpec(resource("container-config.json"), skipped);
        assertEquals(List.of(), skipped, "CRI keys the Kata spec has no field for");

        var p = s.getProcess();
        assertEquals(1000, p.getUser().getUID());
        assertEquals(List.of(1000, 3000), p.getUser().getAdditionalGidsList());
        assertEquals("/work", p.getCwd());
        assertTrue(p.getEnvList().contains("FOO=bar"));
        assertEquals(List.of("CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"), p.getCapabilities().getEffectiveList());
        assertEquals(1000, p.getOOMScoreAdj());
        assertTrue(p.getNoNewPrivileges());
        assertTrue(s.getRoot().getReadonly());
        var l = s.getLinux();
        assertEquals(67108864, l.getResources().getMemory().getLimit());
        assertEquals(50000, l.getResources().getCPU().getQuota());
        assertEquals(100000, l.getResources().getCPU().getPeriod());
        assertEquals(512, l.getResources().getCPU().getShares());
        assertEquals("/kubepods/burstable/pod2c9a6b1e-0000-4000-8000-000000000001/9a8b7c6d5e4f", l.getCgroupsPath());
        assertEquals("/proc/31337/ns/ipc", l.getNamespacesList().stream().filter(n -> n.getType().equals("ipc"))
                .findFirst().orElseThrow().getPath(), "the agent reads 'join the pod' from the path");
        assertEquals(9, l.getMaskedPathsCount());
        assertEquals(5, l.getReadonlyPathsCount());

        List<HostMounts.Share> shares = HostMounts.plan("c1", s);
        Map<String, Mount> m = byDestination(s);
        assertEquals(List.of("/data", "/config", "/etc/hosts", "/dev/termination-log", "/etc/hostname", "/etc/resolv.conf"),
                shares.stream().map(HostMounts.Share::destination).toList());
        assertEquals(List.of("0-data", "1-config", "2-etc-hosts", "3-0c1d2e3f", "4-hostname", "5-resolv.conf"),
                shares.stream().map(HostMounts.Share::name).toList());
        assertEquals(List.of(false, true, false, false, false, false),
                shares.stream().map(HostMounts.Share::readOnly).toList());
        assertTrue(shares.stream().allMatch(HostMounts.Share::recursive));
        assertEquals(SHARED + "/c1/mounts/1-config", m.get("/config").getSource());
        assertEquals(List.of("rbind", "rprivate", "ro"), m.get("/config").getOptionsList(), "the guest's bind is ro too");
        assertEquals(SHARED + "/c1/mounts/2-etc-hosts", m.get("/etc/hosts").getSource());
        assertEquals(GuestContract.POD_SHM, m.get("/dev/shm").getSource(), "/dev/shm is the pod's guest tmpfs");
        assertEquals("proc", m.get("/proc").getSource());
        assertEquals("cgroup", m.get("/sys/fs/cgroup").getSource());
        assertEquals("tmpfs", m.get("/dev").getSource());
    }

    @Test
    void sandboxSpecSharesResolvConfAndSizesTheVm() throws Exception {
        List<String> skipped = new ArrayList<>();
        JsonNode json = resource("sandbox-config.json");
        Spec.Builder s = toSpec(json, skipped);
        assertEquals(List.of(), skipped);
        assertEquals("pod-a", s.getHostname());
        assertEquals("SCMP_ACT_ERRNO", s.getLinux().getSeccomp().getDefaultAction());
        assertEquals(1, s.getLinux().getSeccomp().getSyscalls(2).getErrnoret());
        assertEquals("0", s.getLinux().getSysctlMap().get("net.ipv4.ip_unprivileged_port_start"));

        List<HostMounts.Share> shares = HostMounts.plan("5f3c0e7a9b1d", s);
        assertEquals(1, shares.size());
        assertEquals("/etc/resolv.conf", shares.get(0).destination());
        assertTrue(shares.get(0).readOnly());
        Mount shm = byDestination(s).get("/dev/shm");
        assertEquals(GuestContract.POD_SHM, shm.getSource());
        assertEquals(List.of("rbind", "ro"), shm.getOptionsList());

        Bundle bundle = new Bundle(Path.of("/b"), json);
        assertEquals("5f3c0e7a9b1d", bundle.sandboxIdFor("5f3c0e7a9b1d"));
        PodSizing size = PodSizing.of(PodSizingTest.hypervisor("virt", List.of()), bundle.annotations());
        assertEquals(1 + 2, size.vcpus(), "1.5 CPUs of pod limits round up to 2 on top of the base");
        assertEquals(512 + 256, size.memoryMib());
    }

    @Test
    void appContainerJoinsItsSandbox() throws Exception {
        Bundle b = new Bundle(Path.of("/b"), resource("container-config.json"));
        assertEquals("5f3c0e7a9b1d", b.sandboxIdFor("9a8b7c6d5e4f"));
    }

    @Test
    void hostIpcShmAndKernelFileSystemsStayInTheGuest() {
        Spec.Builder s = Spec.newBuilder()
                .addMounts(Mount.newBuilder().setDestination("/dev/shm").setType("bind").setSource("/dev/shm")
                        .addOptions("rbind"))
                .addMounts(Mount.newBuilder().setDestination("/host/sys").setType("bind").setSource("/sys")
                        .addOptions("rbind"))
                .addMounts(Mount.newBuilder().setDestination("/dev/fuse").setType("bind").setSource("/dev/fuse")
                        .addOptions("bind"))
                .addMounts(Mount.newBuilder().setDestination("/tmp").setType("tmpfs").setSource("tmpfs"))
                .addMounts(Mount.newBuilder().setDestination("/host").setSource("/").addOptions("rbind")
                        .addOptions("ro"));
        List<HostMounts.Share> shares = HostMounts.plan("c", s);
        assertEquals(List.of("0-root"), shares.stream().map(HostMounts.Share::name).toList());
        assertEquals("/dev/shm", s.getMounts(0).getSource(), "hostIPC: the guest's own /dev/shm");
        assertEquals("/sys", s.getMounts(1).getSource());
        assertEquals("/dev/fuse", s.getMounts(2).getSource());
        assertEquals("tmpfs", s.getMounts(3).getSource());
        assertEquals(SHARED + "/c/mounts/0-root", s.getMounts(4).getSource());
    }
}
