package io.nemu.agent.oci;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.grpc.Status;
import io.nemu.agent.AgentException;
import io.nemu.agent.TestHost;
import io.nemu.proto.kata.Hook;
import io.nemu.proto.kata.Hooks;
import io.nemu.proto.kata.LinuxMemory;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StringUser;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class OciSpecsTest {

    private static Spec spec() throws Exception {
        TestHostless h = new TestHostless();
        return h.spec();
    }

    /** The spec TestHost builds, without a TestHost (no root needed). */
    private static final class TestHostless {
        Spec spec() {
            return Spec.newBuilder()
                    .setProcess(TestHost.process(true, "sh", "-c", "echo hi").addEnv("A=b=c"))
                    .setHostname("pod")
                    .setHooks(Hooks.newBuilder().addPrestart(Hook.newBuilder().setPath("/usr/bin/host-only")))
                    .addMounts(io.nemu.proto.kata.Mount.newBuilder().setDestination("/proc").setType("proc").setSource("proc"))
                    .setLinux(io.nemu.proto.kata.Linux.newBuilder()
                            .setCgroupsPath("/ignored")
                            .addNamespaces(io.nemu.proto.kata.LinuxNamespace.newBuilder().setType("network").setPath("/var/run/netns/x"))
                            .addNamespaces(io.nemu.proto.kata.LinuxNamespace.newBuilder().setType("pid"))
                            .addNamespaces(io.nemu.proto.kata.LinuxNamespace.newBuilder().setType("mount"))
                            .setResources(LinuxResources.newBuilder().setMemory(LinuxMemory.newBuilder().setLimit(32L << 20))))
                    .build();
        }
    }

    @Test
    void convertsProcessRootMountsNamespacesAndResources() throws Exception {
        ObjectNode c = OciSpecs.config(spec(), "/b/rootfs", "/nemu/c1",
                new OciSpecs.Namespaces(null, "/proc/7/ns/ipc", null), null);
        JsonNode p = c.get("process");
        assertEquals("sh", p.get("args").get(0).asText());
        assertTrue(p.get("terminal").asBoolean());
        assertEquals(24, p.get("consoleSize").get("height").asInt());
        assertEquals("A=b=c", p.get("env").get(2).asText());
        assertEquals("RLIMIT_NOFILE", p.get("rlimits").get(0).get("type").asText());
        assertEquals(1024, p.get("rlimits").get(0).get("hard").asLong());
        assertTrue(p.get("capabilities").get("bounding").toString().contains("CAP_KILL"));
        assertEquals("/b/rootfs", c.get("root").get("path").asText());
        assertEquals("pod", c.get("hostname").asText());
        assertEquals("/proc", c.get("mounts").get(0).get("destination").asText());
        assertFalse(c.has("hooks"), "host hooks never reach the guest");
        JsonNode linux = c.get("linux");
        assertEquals("/nemu/c1", linux.get("cgroupsPath").asText());
        assertEquals(32L << 20, linux.get("resources").get("memory").get("limit").asLong());
        List<String> ns = new ArrayList<>();
        linux.get("namespaces").forEach(n -> ns.add(n.get("type").asText() + (n.has("path") ? "=" + n.get("path").asText() : "")));
        assertEquals(List.of("mount", "pid", "ipc=/proc/7/ns/ipc", "uts"), ns);
    }

    @Test
    void joinedUtsNamespaceDropsHostname() throws Exception {
        ObjectNode c = OciSpecs.config(spec(), "/r", "/c", new OciSpecs.Namespaces(null, null, "/proc/7/ns/uts"), null);
        assertFalse(c.has("hostname"));
    }

    @Test
    void stringUserWins() throws Exception {
        ObjectNode c = OciSpecs.config(spec(), "/r", "/c", new OciSpecs.Namespaces(null, null, null),
                StringUser.newBuilder().setUid("1000").setGid("100").build());
        assertEquals(1000, c.get("process").get("user").get("uid").asInt());
        assertEquals(100, c.get("process").get("user").get("gid").asInt());
    }

    @Test
    void badInputIsNamed() throws Exception {
        Spec s = spec();
        AgentException e = assertThrows(AgentException.class, () -> OciSpecs.config(
                s.toBuilder().setProcess(s.getProcess().toBuilder().addEnv("NOEQUALS")).build(), "/r", "/c",
                new OciSpecs.Namespaces(null, null, null), null));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("NOEQUALS"));
        e = assertThrows(AgentException.class, () -> OciSpecs.config(
                s.toBuilder().setProcess(s.getProcess().toBuilder().setCwd("rel")).build(), "/r", "/c",
                new OciSpecs.Namespaces(null, null, null), null));
        assertTrue(e.getMessage().contains("Cwd"));
        e = assertThrows(AgentException.class, () -> OciSpecs.config(s, "/r", "/c",
                new OciSpecs.Namespaces(null, null, null), StringUser.newBuilder().setUid("root").build()));
        assertTrue(e.getMessage().contains("uid"));
        e = assertThrows(AgentException.class, () -> OciSpecs.config(
                s.toBuilder().setLinux(s.getLinux().toBuilder().addNamespaces(
                        io.nemu.proto.kata.LinuxNamespace.newBuilder().setType("time-travel"))).build(), "/r", "/c",
                new OciSpecs.Namespaces(null, null, null), null));
        assertTrue(e.getMessage().contains("time-travel"));
    }

    private static io.nemu.proto.kata.Linux linux(String... typeAndPath) {
        io.nemu.proto.kata.Linux.Builder l = io.nemu.proto.kata.Linux.newBuilder();
        for (String t : typeAndPath) {
            String[] p = t.split("=", 2);
            l.addNamespaces(io.nemu.proto.kata.LinuxNamespace.newBuilder().setType(p[0]).setPath(p.length > 1 ? p[1] : ""));
        }
        return l.build();
    }

    private static List<String> namespaces(ObjectNode config) {
        List<String> ns = new ArrayList<>();
        config.get("linux").get("namespaces").forEach(n -> ns.add(n.get("type").asText()
                + (n.has("path") ? "=" + n.get("path").asText() : "")));
        return ns;
    }

    @Test
    void criNamespacesInTheGuest() throws Exception {
        // containerd 1.6.20's CRI: the sandbox (pause) asks for new pid/ipc/uts and the CNI netns.
        io.nemu.proto.kata.Linux sandbox = linux("pid", "ipc", "uts", "mount", "network=/var/run/netns/cni-1");
        OciSpecs.Namespaces first = OciSpecs.Namespaces.resolve(sandbox, null, false);
        assertEquals(new OciSpecs.Namespaces(null, null, null), first);
        Spec pause = spec().toBuilder().setLinux(sandbox).build();
        ObjectNode c = OciSpecs.config(pause, "/r", "/c", first, null);
        assertEquals(List.of("mount", "pid", "ipc", "uts"), namespaces(c), "network: the VM's own");
        assertEquals("pod", c.get("hostname").asText());

        // An app container: the sandbox task's /proc/PID/ns paths (QEMU's pid on the host) mean "the pod's".
        io.nemu.proto.kata.Linux app = linux("pid=/proc/4242/ns/pid", "ipc=/proc/4242/ns/ipc", "uts=/proc/4242/ns/uts",
                "mount", "network=/proc/4242/ns/net");
        OciSpecs.Namespaces joined = OciSpecs.Namespaces.resolve(app, "/proc/17/ns/", false);
        c = OciSpecs.config(spec().toBuilder().setHostname("").setLinux(app).build(), "/r", "/c", joined, null);
        assertEquals(List.of("mount", "pid=/proc/17/ns/pid", "ipc=/proc/17/ns/ipc", "uts=/proc/17/ns/uts"), namespaces(c));

        // PID namespace mode CONTAINER: a pid entry without a path, its own pid namespace.
        io.nemu.proto.kata.Linux own = linux("pid", "ipc=/proc/4242/ns/ipc", "uts=/proc/4242/ns/uts", "mount");
        assertEquals(new OciSpecs.Namespaces(null, "/proc/17/ns/ipc", "/proc/17/ns/uts"),
                OciSpecs.Namespaces.resolve(own, "/proc/17/ns/", false));
        // ... unless the sandbox asked for one pid namespace (CreateSandbox.sandbox_pidns)
        assertEquals("/proc/17/ns/pid", OciSpecs.Namespaces.resolve(own, "/proc/17/ns/", true).pidPath());
        // the first container of a pod cannot join anything yet
        assertEquals(new OciSpecs.Namespaces(null, null, null), OciSpecs.Namespaces.resolve(app, null, true));

        // hostPID/hostIPC (no entry): the guest's own, as a host namespace is under runc; no hostname then.
        io.nemu.proto.kata.Linux host = linux("uts", "mount");
        OciSpecs.Namespaces guest = OciSpecs.Namespaces.resolve(host, "/proc/17/ns/", false);
        assertEquals(new OciSpecs.Namespaces(OciSpecs.Namespaces.GUEST, OciSpecs.Namespaces.GUEST, null), guest);
        c = OciSpecs.config(spec().toBuilder().setLinux(host).build(), "/r", "/c", guest, null);
        assertEquals(List.of("mount", "uts"), namespaces(c));
        io.nemu.proto.kata.Linux hostUts = linux("mount");
        c = OciSpecs.config(spec().toBuilder().setLinux(hostUts).build(), "/r", "/c",
                OciSpecs.Namespaces.resolve(hostUts, null, false), null);
        assertEquals(List.of("mount"), namespaces(c));
        assertFalse(c.has("hostname"), "crun cannot set a hostname in the guest's own UTS namespace");
    }

    @Test
    void podNetworkSysctlsAreTheAgentsToWrite() throws Exception {
        // CRI puts a pod's sysctls on the sandbox spec; crun refuses net.* without a network namespace of
        // the container's own, and in the VM the pod's network is the guest's.
        io.nemu.proto.kata.Linux l = io.nemu.proto.kata.Linux.newBuilder().putSysctl("net.ipv4.ping_group_range", "0 2147483647")
                .putSysctl("net.ipv4.ip_unprivileged_port_start", "0").putSysctl("kernel.shm_rmid_forced", "1")
                .addNamespaces(io.nemu.proto.kata.LinuxNamespace.newBuilder().setType("ipc")).build();
        ObjectNode c = OciSpecs.config(spec().toBuilder().setLinux(l).build(), "/r", "/c",
                new OciSpecs.Namespaces(null, null, null), null);
        assertEquals("{\"kernel.shm_rmid_forced\":\"1\"}", c.get("linux").get("sysctl").toString());
        assertEquals(java.util.Map.of("net.ipv4.ping_group_range", "0 2147483647", "net.ipv4.ip_unprivileged_port_start", "0"),
                OciSpecs.podNetworkSysctls(l));
        AgentException e = assertThrows(AgentException.class, () -> OciSpecs.podNetworkSysctls(
                io.nemu.proto.kata.Linux.newBuilder().putSysctl("net.ipv4/../../x", "1").build()));
        assertEquals("OCI.Linux.Sysctl key 'net.ipv4/../../x' is not a sysctl name", e.getMessage());
    }
}
