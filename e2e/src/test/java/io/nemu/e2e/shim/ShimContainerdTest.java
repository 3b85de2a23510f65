package io.nemu.e2e.shim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Distribution;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.e2e.support.Sandboxes;
import io.nemu.firmware.GuestImage;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.proto.containerd.events.TaskExit;
import io.nemu.shim.events.EventForwarder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shim under a real containerd, for what works without the guest agent: errors reach {@code ctr},
 * events reach {@code ctr events}, a sandbox VM boots and is fully cleaned up when the agent never answers.
 */
@Tag("system")
class ShimContainerdTest {
    private static final String RUNTIME = "io.containerd.nemu.v2";
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    @TempDir
    Path work;
    private final Distribution dist = Distribution.locate();

    private Containerd containerd() throws IOException {
        return LEFTOVERS.containerd(Containerd.builder().extraPath(dist.bin()).ctrTimeout(Duration.ofSeconds(120)).start());
    }

    @Test
    void aBadConfigStopsCtrRunWithTheKeyNamed() throws Exception {
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"));
        Path config = dist.writeConfig(work, "machine_type = \"pc-i440fx\"", "");
        LEFTOVERS.sandbox("badcfg");
        try (Containerd c = containerd()) {
            Containerd.CtrResult r = c.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path",
                    config.toString(), "--rootfs", rootfs.toString(), "badcfg", "/bin/true");
            assertNotEquals(0, r.exitCode());
            assertTrue(r.stderr().contains("hypervisor.qemu.machine_type 'pc-i440fx' is not one of virt, virt-hotplug"),
                    r.stderr());
            System.out.println("ctr run with a bad config: " + r.stderr().strip());
            assertEquals(List.of(), c.shimProcesses(), "no shim may stay behind");
        }
    }

    @Test
    void forwardedEventsReachCtrEvents() throws Exception {
        try (Containerd c = containerd()) {
            ContainerdEvents events = c.events();
            try (EventForwarder f = new EventForwarder(Path.of(c.ttrpcAddress()), "default", Duration.ofSeconds(10))) {
                f.publish("/tasks/exit", TaskExit.newBuilder().setContainerId("nemu-evt").setId("nemu-evt")
                        .setPid(1234).setExitStatus(3).build());
            }
            ContainerdEvents.Event e = events.awaitTopic("/tasks/exit", Duration.ofSeconds(15));
            assertEquals("default", e.namespace());
            assertTrue(e.json().contains("\"container_id\":\"nemu-evt\""), e.line());
            assertTrue(e.json().contains("\"exit_status\":3"), e.line());
            System.out.println("ctr events: " + e.line());
        }
    }

    @Test
    void aTruncatedRootImageFailsTheRunNamingTheFile() throws Exception {
        GuestImage img = GuestImages.assumeOfDistribution(dist, true);
        // The image's files beside a root.img cut to 1 MiB (as a failed copy leaves it).
        Path guest = Files.createDirectory(work.resolve("guest"));
        for (String f : List.of(GuestImage.VMLINUX, GuestImage.VMLINUZ, GuestImage.INITRD, GuestImage.ROOT_INITRD)) {
            Files.createSymbolicLink(guest.resolve(f), img.dir().resolve(f));
        }
        Files.copy(img.dir().resolve("manifest.json"), guest.resolve("manifest.json"));
        Path truncated = guest.resolve(GuestImage.ROOT_IMAGE);
        try (var in = Files.newInputStream(img.rootImage().orElseThrow())) {
            Files.write(truncated, in.readNBytes(1 << 20));
        }
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"));
        Path config = dist.writeRootImageConfig(work, truncated, "", "");
        String id = LEFTOVERS.sandbox("truncated-" + ProcessHandle.current().pid());
        try (Containerd c = containerd()) {
            Containerd.CtrResult r = c.ctr("run", "--rm", "--runtime", RUNTIME, "--runtime-config-path",
                    config.toString(), "--rootfs", rootfs.toString(), id, "/bin/true");
            System.out.println("ctr run with a truncated root image: exit " + r.exitCode() + ": " + r.stderr().strip());
            assertNotEquals(0, r.exitCode());
            assertTrue(r.stderr().contains(truncated.toString()) && r.stderr().contains("truncated"), r.stderr());
            Leftovers.await(() -> c.shimProcesses().isEmpty());
            assertEquals(List.of(), c.shimProcesses(), "no shim may stay behind");
        }
    }

    @Test
    void theRootImageBootsInA256MibSandboxAndAutoloadsAnyKernelModule() throws Exception {
        // The shipped root: root.img on a read-only disk, nothing copied into guest RAM, so 256 MiB (where the
        // old initramfs root cannot even unpack) runs a container. Its whole module tree answers the kernel's
        // autoload requests (/sbin/modprobe): dummy and bridge are not among the modules /init loads.
        GuestImages.assumeOfDistribution(dist, true);
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"), "ip", "brctl");
        Path config = dist.writeConfig(work, "enable_annotations = [\"default_memory\"]", "dial_timeout = 180");
        String id = LEFTOVERS.sandbox("modules-" + ProcessHandle.current().pid());
        try (Containerd c = containerd()) {
            long t0 = System.nanoTime();
            Containerd.CtrResult r = c.ctr(Duration.ofSeconds(200), "run", "--rm", "--privileged", "--runtime",
                    RUNTIME, "--runtime-config-path", config.toString(), "--annotation",
                    "io.katacontainers.config.hypervisor.default_memory=256", "--rootfs", rootfs.toString(), id,
                    "/bin/sh", "-c", "ip link add nemudummy0 type dummy && brctl addbr nemubr0 && ip -o link show"
                            + " && grep -E '^(dummy|bridge) ' /proc/modules && grep -E '^Mem(Total|Available):' /proc/meminfo");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("ctr run --privileged in a 256 MiB sandbox: exit " + r.exitCode() + " after " + ms
                    + " ms:\n" + r.stdout() + r.stderr());
            assertEquals(0, r.exitCode(), r.stderr());
            assertTrue(r.stdout().contains("nemudummy0") && r.stdout().contains("nemubr0"), r.stdout());
            assertTrue(r.stdout().contains("\ndummy ") && r.stdout().contains("\nbridge "), r.stdout());
            Leftovers.await(() -> c.shimProcesses().isEmpty());
            assertEquals(List.of(), c.shimProcesses());
        }
    }

    @Test
    void aGuestThatCannotComeUpFailsTheRunAtOnceNamingTheCause() throws Exception {
        // 256 MiB cannot hold the agent image's whole initramfs (the old root; the root image boots there): the
        // kernel stops unpacking it ("write error"), /init says so and powers off, and the run fails with that line
        // long before the (generous) dial timeout.
        GuestImages.assumeOfDistribution(dist, true);
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"));
        Path config = dist.writeInitramfsConfig(work, "enable_annotations = [\"default_memory\"]", "dial_timeout = 180");
        String id = LEFTOVERS.sandbox("small-" + ProcessHandle.current().pid());
        try (Containerd c = containerd()) {
            long t0 = System.nanoTime();
            Containerd.CtrResult r = c.ctr(Duration.ofSeconds(200), "run", "--rm", "--runtime", RUNTIME,
                    "--runtime-config-path", config.toString(), "--annotation",
                    "io.katacontainers.config.hypervisor.default_memory=256", "--rootfs", rootfs.toString(), id,
                    "/bin/true");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            System.out.println("ctr run of a 256 MiB sandbox: exit " + r.exitCode() + " after " + ms + " ms: "
                    + r.stderr().strip());
            String log = c.logTail(400);
            log.lines().filter(l -> l.contains("sandbox=" + id + " ") && !l.contains("DEBUG")).forEach(System.out::println);
            long booting = log.lines().filter(l -> l.contains("VmSandbox: booting VM for sandbox " + id)).count();
            assertNotEquals(0, r.exitCode());
            assertTrue(r.stderr().contains(GuestContract.GUEST_FATAL_MARKER), r.stderr());
            assertTrue(r.stderr().contains("could not unpack the whole initramfs"), r.stderr());
            assertFalse(r.stderr().contains("dial_timeout"), r.stderr());
            assertEquals(1, booting, "one boot, no retry: " + log);
            Leftovers.await(() -> c.shimProcesses().isEmpty());
            assertEquals(List.of(), c.shimProcesses());
        }
    }

    @Test
    void whenTheAgentNeverAnswersTheVmIsRemovedAfterTheDialTimeout() throws Exception {
        // The base image has no agent: its /init boots, says it is ready and idles (no fatal line, no power-off),
        // so nothing ever answers on the agent's port and only the dial timeout ends the wait.
        GuestImage noAgent = GuestImages.base();
        assertFalse(GuestImages.hasAgent(noAgent), noAgent.initrd() + " has an agent");
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"));
        Path config = dist.writeConfig(work, noAgent, "", "dial_timeout = 10");
        String id = LEFTOVERS.sandbox("noagent-" + ProcessHandle.current().pid());
        Path state = SandboxPaths.of(id).state();
        Path shared = SandboxPaths.of(id).sharedBase();
        try (Containerd c = containerd()) {
            long t0 = System.nanoTime();
            Containerd.CtrResult r = c.ctr(Duration.ofSeconds(120), "run", "--rm", "--runtime", RUNTIME,
                    "--runtime-config-path", config.toString(), "--rootfs", rootfs.toString(), id, "/bin/true");
            System.out.println("ctr run without agent: exit " + r.exitCode() + " after "
                    + (System.nanoTime() - t0) / 1_000_000 + " ms: " + r.stderr().strip());
            assertNotEquals(0, r.exitCode());
            assertTrue(r.stderr().contains("did not answer within 10 s (agent.kata.dial_timeout"), r.stderr());
            // The daemon logs through the bundle's log fifo into containerd's log, each line naming the sandbox.
            String log = c.logTail(400);
            assertTrue(log.contains("sandbox=" + id + " VmSandbox: booting VM for sandbox " + id), log);
            assertTrue(log.contains("sandbox=" + id + " VmSandbox: stopping VM of sandbox " + id), log);
            Leftovers.await(() -> Sandboxes.vmProcesses(id).isEmpty());
            assertEquals(List.of(), Sandboxes.vmProcesses(id));
            assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(shared.toString()), "mounts left");
            assertFalse(Files.exists(shared), shared + " left");
            Leftovers.await(() -> c.shimProcesses().isEmpty());
            assertEquals(List.of(), c.shimProcesses());
            assertFalse(Files.exists(state), state + " left");
        }
    }
}
