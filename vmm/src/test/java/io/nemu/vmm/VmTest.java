package io.nemu.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.nemu.vmm.qmp.QmpEvent;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * VM lifecycle against real QEMU and virtiofsd. The guest is {@link ProbeKernel}: it prints a line and
 * halts, so these tests need no guest image and do not react to ACPI power-off.
 */
@Tag("system")
class VmTest {
    private static final String TAG = "kataShared";
    private static final String MARKER = "probe guest says hello";

    @TempDir
    Path tmp;
    private final ChildProcesses children = new ChildProcesses();
    private Path kernel;
    private Path share;

    @BeforeEach
    void setUp() throws Exception {
        kernel = ProbeKernel.write(tmp.resolve("probe.elf"), MARKER + "\n", false);
        share = Files.createDirectories(tmp.resolve("share"));
        Files.writeString(share.resolve("hello.txt"), "hi");
    }

    @AfterEach
    void noneLeft() throws Exception {
        children.assertNoneLeft();
    }

    private VmConfig.Builder base(MachineProfile profile) {
        return VmConfig.builder().profile(profile).kernel(kernel).accelerator(Accelerator.TCG)
                .memoryMib(128).runDir(tmp.resolve("run")).startTimeout(Duration.ofSeconds(20));
    }

    @Test
    void virtBootsWithShareAndAgentChannelAndStops() throws Exception {
        runFullCycle(base(MachineProfile.virt()).sharedDir(share).sharedTag(TAG).agentTransport(AgentTransport.SERIAL).build());
    }

    @Test
    void virtHotplugBootsWithShareAndAgentChannelAndStops() throws Exception {
        runFullCycle(base(MachineProfile.virtHotplug()).vcpus(1).maxVcpus(4).memorySlots(2).maxMemoryMib(512)
                .pciRootPorts(2).sharedDir(share).sharedTag(TAG).agentTransport(AgentTransport.SERIAL).build());
    }

    private void runFullCycle(VmConfig config) throws Exception {
        Vm vm = new Vm(config, children);
        try {
            vm.start();
            assertInstanceOf(Vm.State.Running.class, vm.state());
            assertTrue(vm.virtiofsdPid().isPresent());
            assertTrue(Files.exists(vm.paths().virtiofsdSocket()));
            assertEquals(Accelerator.TCG, vm.accelerator());
            assertVirtiofsdConfinedToTheShare(vm.virtiofsdPid().getAsLong());
            // Owner-only: the run folder, every socket (QEMU's, virtiofsd's) and the logs.
            assertEquals("rwx------", PrivateFiles.mode(vm.paths().runDir()));
            for (Path f : List.of(vm.paths().qmpSocket(), vm.paths().agentSocket(), vm.paths().virtiofsdSocket(),
                    vm.consoleLog(), vm.paths().qemuLog(), vm.paths().virtiofsdLog(), vm.paths().commandFile())) {
                assertEquals("rw-------", PrivateFiles.mode(f), f.toString());
            }
            assertTrue(vm.waitForConsoleLine(Pattern.compile(Pattern.quote(MARKER)), Duration.ofSeconds(20))
                    .contains(MARKER));
            assertEquals("running", vm.qmp().queryStatus().get(5, TimeUnit.SECONDS));

            // The agent channel gives a connected byte stream and QEMU sees the host side connected.
            try (SocketChannel ch = vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(5))) {
                assertTrue(ch.isConnected());
                ch.write(ByteBuffer.wrap("ping".getBytes()));
                JsonNode chardevs = vm.qmp().execute("query-chardev").get(5, TimeUnit.SECONDS);
                boolean connected = false;
                for (JsonNode c : chardevs) {
                    if (c.path("label").asText().equals("agentch")) {
                        connected = c.path("filename").asText().contains("connected")
                                || c.path("filename").asText().startsWith("unix:");
                    }
                }
                assertTrue(connected, "agent chardev not listed: " + chardevs);
            }
            // The virtio-fs device is there with our tag, and the agent port with its name.
            assertEquals("kataShared", qomGet(vm, "/machine/peripheral/virtiofs0", "tag").asText());
            assertEquals("agent.channel.0", qomGet(vm, "/machine/peripheral/agentport", "name").asText());
            if (config.profile().hotplug()) {
                // The hotplug reserves are real: CPU slots up to maxVcpus, DIMM room, empty root ports.
                JsonNode cpus = vm.qmp().execute("query-hotpluggable-cpus").get(5, TimeUnit.SECONDS);
                assertEquals(config.maxVcpus(), cpus.size(), cpus.toString());
                JsonNode mem = vm.qmp().execute("query-memory-size-summary").get(5, TimeUnit.SECONDS);
                assertEquals((long) config.memoryMib() << 20, mem.path("base-memory").asLong(), mem.toString());
                for (int i = 0; i < config.pciRootPorts(); i++) {
                    assertEquals("pcie-root-port", qomGet(vm, "/machine/peripheral/hotplug" + i, "type").asText());
                }
            }

            // The probe guest ignores ACPI: stop() must fall back to quit.
            CompletableFuture<QmpEvent> shutdown = vm.qmp().nextEvent("SHUTDOWN");
            CompletableFuture<QmpEvent> powerdown = vm.qmp().nextEvent("POWERDOWN");
            Integer code = vm.stop(Duration.ofMillis(500));
            assertEquals(0, code);
            assertTrue(shutdown.isDone(), "no SHUTDOWN event before QEMU exited");
            assertTrue(powerdown.isDone() && !powerdown.isCompletedExceptionally(), "no POWERDOWN event");
            assertEquals("host-qmp-quit", shutdown.get().data().path("reason").asText());
            assertEquals(0, vm.exitFuture().get(5, TimeUnit.SECONDS));
            assertInstanceOf(Vm.State.Stopped.class, vm.state());
            assertFalse(Files.exists(vm.paths().qmpSocket()));
            assertFalse(Files.exists(vm.paths().virtiofsdSocket()));
            assertFalse(Files.exists(vm.paths().agentSocket()));
            assertTrue(Files.readString(vm.consoleLog()).contains(MARKER));
        } finally {
            vm.stop(Duration.ZERO);
        }
    }

    /**
     * virtiofsd's own sandbox (its defaults: sandbox=namespace, seccomp): the process serving the guest (its
     * child in new namespaces) sees the shared folder as its root, and runs under a seccomp filter.
     */
    private static void assertVirtiofsdConfinedToTheShare(long pid) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        java.util.Optional<ProcessHandle> child = java.util.Optional.empty();
        while (child.isEmpty() && System.nanoTime() < end) {
            child = ProcessHandle.of(pid).orElseThrow().children().findFirst();
            Thread.sleep(20);
        }
        long server = child.orElseThrow(() -> new AssertionError("virtiofsd " + pid + " did not fork its sandboxed"
                + " server")).pid();
        Path proc = Path.of("/proc", Long.toString(server));
        try (java.util.stream.Stream<Path> root = Files.list(proc.resolve("root"))) {
            assertEquals(List.of("hello.txt"), root.map(p -> p.getFileName().toString()).toList(),
                    "virtiofsd's root is the shared folder");
        }
        assertTrue(Files.readString(proc.resolve("status")).contains("Seccomp:\t2"), "virtiofsd runs under seccomp");
        assertFalse(Files.readSymbolicLink(proc.resolve("ns/mnt"))
                .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/mnt"))), "its own mount namespace");
    }

    private static JsonNode qomGet(Vm vm, String path, String property) throws Exception {
        return vm.qmp().execute("qom-get", java.util.Map.of("path", path, "property", property))
                .get(5, TimeUnit.SECONDS);
    }

    @Test
    void startTimeoutLeavesNothing() throws Exception {
        VmConfig c = base(MachineProfile.virt()).sharedDir(share).sharedTag(TAG).startTimeout(Duration.ofMillis(40)).build();
        Vm vm = new Vm(c, children);
        VmException e = assertThrows(VmException.class, vm::start);
        System.out.println("start timeout -> " + e.getMessage().lines().findFirst().orElse(""));
        assertTrue(e.getMessage().contains("within"), e.getMessage());
        assertInstanceOf(Vm.State.Stopped.class, vm.state());
        assertFalse(Files.exists(vm.paths().qmpSocket()));
        assertFalse(Files.exists(vm.paths().virtiofsdSocket()));
    }

    @Test
    void missingKernelIsNamed() throws Exception {
        VmConfig c = base(MachineProfile.virt()).kernel(tmp.resolve("no-such-vmlinux")).sharedDir(share).sharedTag(TAG).build();
        Vm vm = new Vm(c, children);
        VmConfigException e = assertThrows(VmConfigException.class, vm::start);
        assertEquals("kernel", e.field());
        assertTrue(e.getMessage().contains("no-such-vmlinux"), e.getMessage());
        assertTrue(children.pids().isEmpty(), "started something: " + children.pids());
    }

    @Test
    void missingQemuBinaryIsNamed() throws Exception {
        VmConfig c = base(MachineProfile.virt()).qemuBinary(tmp.resolve("qemu-nope")).sharedDir(share).sharedTag(TAG).build();
        Vm vm = new Vm(c, children);
        VmConfigException e = assertThrows(VmConfigException.class, vm::start);
        assertEquals("qemuBinary", e.field());
        assertTrue(e.getMessage().contains("qemu-nope"), e.getMessage());
        assertTrue(children.pids().isEmpty());
    }

    @Test
    void qemuRejectingTheKernelFailsWithItsOwnWords() throws Exception {
        Path junk = Files.writeString(tmp.resolve("junk-kernel"), "this is not a kernel\n");
        VmConfig c = base(MachineProfile.virt()).kernel(junk).sharedDir(share).sharedTag(TAG).build();
        Vm vm = new Vm(c, children);
        VmException e = assertThrows(VmException.class, vm::start);
        System.out.println("junk kernel -> " + e.getMessage());
        assertTrue(e.getMessage().contains("QEMU exited with code 1"), e.getMessage());
        assertTrue(e.getMessage().contains("QEMU output"), e.getMessage());
        assertEquals(2, children.pids().size(), "expected virtiofsd and QEMU to have been started");
    }

    @Test
    void virtiofsdDyingDuringStartFailsClearly() throws Exception {
        Vm.Observer killer = new Vm.Observer() {
            @Override
            public void virtiofsdStarted(long pid) {
                children.virtiofsdStarted(pid);
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }

            @Override
            public void qemuStarted(long pid) {
                children.qemuStarted(pid);
            }
        };
        VmConfig c = base(MachineProfile.virt()).sharedDir(share).sharedTag(TAG).build();
        Vm vm = new Vm(c, killer);
        VmException e = assertThrows(VmException.class, vm::start);
        System.out.println("virtiofsd killed during start -> " + e.getMessage());
        assertTrue(e.getMessage().contains("virtiofsd"), e.getMessage());
        assertInstanceOf(Vm.State.Stopped.class, vm.state());
        assertFalse(Files.exists(vm.paths().virtiofsdSocket()));
        assertFalse(Files.exists(vm.paths().qmpSocket()));
    }

    @Test
    void virtiofsdDyingAfterStartIsReportedByTheConsoleWait() throws Exception {
        VmConfig c = base(MachineProfile.virt()).sharedDir(share).sharedTag(TAG).build();
        Vm vm = new Vm(c, children);
        try {
            vm.start();
            long pid = vm.virtiofsdPid().orElseThrow();
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            VmException e = assertThrows(VmException.class,
                    () -> vm.waitForConsoleLine(Pattern.compile("never printed"), Duration.ofSeconds(20)));
            assertTrue(e.getMessage().contains("virtiofsd (pid " + pid + ")")
                    || e.getMessage().contains("QEMU exited"), e.getMessage());
        } finally {
            vm.stop(Duration.ZERO);
        }
    }
}
