package io.nemu.e2e.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.contract.GuestContract;
import io.nemu.e2e.support.FileTrees;
import io.nemu.e2e.support.GuestImages;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import io.nemu.firmware.GuestImage;
import io.nemu.proto.kata.AgentServiceGrpc;
import io.nemu.proto.kata.Box;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.HealthGrpc;
import io.nemu.proto.kata.Linux;
import io.nemu.proto.kata.LinuxCapabilities;
import io.nemu.proto.kata.LinuxMemory;
import io.nemu.proto.kata.LinuxNamespace;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.OOMEvent;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.Storage;
import io.nemu.proto.kata.TtyWinResizeRequest;
import io.nemu.proto.kata.User;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.proto.kata.WriteStreamRequest;
import io.nemu.ttrpc.TtrpcClient;
import io.nemu.vmm.Accelerator;
import io.nemu.vmm.AgentTransport;
import io.nemu.vmm.ChildProcesses;
import io.nemu.vmm.MachineProfile;
import io.nemu.vmm.Vm;
import io.nemu.vmm.VmConfig;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The guest agent in a real VM (virt profile, TCG), driven from the host through our ttrpc client over the
 * virtio-serial agent channel, as a shim drives it: sandbox with the virtio-fs share, busybox containers whose
 * rootfs the host puts into the share, stdio, exec with and without a tty, signals, stats, OOM, errors, and
 * nothing left in the guest after removal. One boot for the whole class; tests run in order on that guest.
 */
@Tag("system")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class AgentInVmTest {
    static final String SHARED_GUEST = GuestContract.SHARED_DIR;
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterAll();
    private static final List<String> CAPS = List.of("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE",
            "CAP_CHOWN", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_FOWNER");

    /** Every guest process (pid and command line; kernel threads have none), then the guest's mounts. */
    private static final String GUEST_VIEW = "for d in /guestproc/[0-9]*; do c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null);"
            + " [ -n \"$c\" ] && echo \"${d#/guestproc/} $c\"; done; echo '<guest'' mounts>'; cat /guestproc/1/mounts";
    /** What {@link #GUEST_VIEW} prints between processes and mounts (its own command line shows it split). */
    private static final String MOUNTS_MARK = "<guest mounts>";

    /** The agent's memory figures from the guest's /proc, and the guest's. */
    private static final String AGENT_STATUS = "for d in /guestproc/[0-9]*; do if grep -q '^java' $d/comm 2>/dev/null;"
            + " then grep -E 'VmRSS|VmHWM|RssAnon|RssFile|RssShmem|Threads' $d/status; fi; done;"
            + " grep -E 'MemTotal|MemAvailable|Shmem:' /proc/meminfo";

    private Path tmp;
    private Path share;
    private Vm vm;
    private TtrpcClient client;
    private final ChildProcesses children = new ChildProcesses();
    private final List<String> created = new ArrayList<>();
    private int counter;

    @BeforeAll
    void boot() throws Exception {
        GuestImage image = GuestImages.withAgent();
        tmp = LEFTOVERS.gone(LEFTOVERS.dir(Files.createTempDirectory(Path.of("/tmp"), "agentvm")));
        share = Files.createDirectories(tmp.resolve("share"));
        VmConfig cfg = VmConfig.builder().profile(MachineProfile.virt()).kernel(image.kernel()).initrd(image.initrd())
                .accelerator(Accelerator.TCG).vcpus(2).memoryMib(512).sharedDir(share).sharedTag(GuestContract.SHARED_FS_TAG)
                .agentTransport(AgentTransport.SERIAL).runDir(tmp.resolve("run")).startTimeout(Duration.ofSeconds(30))
                .build();
        vm = new Vm(cfg, children);
        long t0 = System.nanoTime();
        vm.start();
        CompletableFuture<Long> ready = CompletableFuture.supplyAsync(() -> {
            vm.waitForConsoleLine(Pattern.compile(Pattern.quote(image.readyLine())), Duration.ofSeconds(120));
            return (System.nanoTime() - t0) / 1_000_000;
        });
        client = TtrpcClient.adopt(vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(30)));
        // The request waits in QEMU's socket until the agent opens its port: the answer is the agent's first.
        HealthCheckResponse h = HealthGrpc.newBlockingStub(client).withDeadlineAfter(150, TimeUnit.SECONDS)
                .check(CheckRequest.getDefaultInstance());
        long healthMs = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, h.getStatus());
        System.out.printf("FIGURE QEMU start -> NEMU-GUEST-READY %d ms, -> agent answers Health %d ms%n",
                ready.get(5, TimeUnit.SECONDS), healthMs);
        System.out.println("FIGURE " + vm.waitForConsoleLine(Pattern.compile("nemu-agent .* agent ready: "),
                Duration.ofSeconds(5)));
    }

    @AfterAll
    void shutDown() throws Exception {
        try {
            if (client != null) {
                client.close();
            }
            if (vm != null) {
                Integer code = vm.stop(Duration.ofSeconds(15));
                Path keep = Path.of(System.getProperty("nemu.e2e.target", "target")).resolve("agent-in-vm-console.log");
                Files.copy(vm.consoleLog(), keep, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                System.out.println("QEMU exit code " + code + "; console log kept in " + keep + ", its tail:\n"
                        + tail(vm.consoleLog(), 15));
            }
        } finally {
            try {
                children.assertNoneLeft();
            } finally {
                FileTrees.delete(tmp);
            }
        }
    }

    private static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.ISO_8859_1);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(" + e.getMessage() + ")";
        }
    }

    private AgentServiceGrpc.AgentServiceBlockingStub agent() {
        return AgentServiceGrpc.newBlockingStub(client).withDeadlineAfter(90, TimeUnit.SECONDS);
    }

    // --- building blocks: what a shim would send ---

    /** A busybox rootfs where the shim puts it: the share's CID/rootfs, seen by the guest through virtio-fs. */
    private void rootfs(String cid) throws IOException {
        Path root = Rootfs.busybox(share.resolve(cid).resolve("rootfs"), Rootfs.allApplets());
        Files.createDirectories(root.resolve("root"));
        Files.writeString(root.resolve("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    }

    private static Process.Builder process(boolean terminal, String... args) {
        return Process.newBuilder().addAllArgs(List.of(args)).addEnv("PATH=/bin").addEnv("TERM=xterm").setCwd("/")
                .setTerminal(terminal)
                .setConsoleSize(terminal ? Box.newBuilder().setHeight(24).setWidth(80).build() : Box.getDefaultInstance())
                .setUser(User.newBuilder().setUID(0).setGID(0)).setNoNewPrivileges(true)
                .setCapabilities(LinuxCapabilities.newBuilder().addAllBounding(CAPS).addAllEffective(CAPS)
                        .addAllPermitted(CAPS));
    }

    private static Mount mount(String dest, String source, String type, String... options) {
        return Mount.newBuilder().setDestination(dest).setSource(source).setType(type).addAllOptions(List.of(options))
                .build();
    }

    /** A spec as containerd sends it; {@code ownPidns} false puts the container into the guest's pid namespace. */
    private static Spec spec(String cid, Process.Builder process, LinuxResources resources, boolean ownPidns) {
        Linux.Builder linux = Linux.newBuilder().setCgroupsPath("/kubepods/besteffort/podtest/" + cid)
                .addMaskedPaths("/proc/kcore").addReadonlyPaths("/proc/sys");
        for (String ns : List.of("pid", "ipc", "uts", "mount", "network")) {
            if (ns.equals("pid") && !ownPidns) {
                continue;
            }
            linux.addNamespaces(LinuxNamespace.newBuilder().setType(ns)
                    .setPath(ns.equals("network") ? "/var/run/netns/cni-test" : ""));
        }
        if (resources != null) {
            linux.setResources(resources);
        }
        return Spec.newBuilder().setVersion("1.0.2").setProcess(process).setHostname("c-" + cid)
                .addMounts(mount("/proc", "proc", "proc", "nosuid", "noexec", "nodev"))
                .addMounts(mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"))
                .addMounts(mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666",
                        "mode=0620"))
                .addMounts(mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"))
                .setLinux(linux).build();
    }

    private String create(String what, Process.Builder process, LinuxResources res, boolean ownPidns)
            throws Exception {
        String id = what + "-" + (++counter);
        created.add(id);
        rootfs(id);
        agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id).setExecId(id)
                .setOCI(spec(id, process, res, ownPidns)).build());
        return id;
    }

    private String run(String what, Process.Builder process) throws Exception {
        String id = create(what, process, null, true);
        agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    private String readAll(String cid, String eid) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            try {
                ReadStreamResponse r = agent().readStdout(ReadStreamRequest.newBuilder().setContainerId(cid)
                        .setExecId(eid).setLen(8192).build());
                out.writeBytes(r.getData().toByteArray());
            } catch (StatusRuntimeException e) {
                assertEquals("eof", e.getStatus().getDescription(), e.toString());
                return out.toString(StandardCharsets.UTF_8);
            }
        }
    }

    private String readUntil(String cid, String eid, String marker) {
        StringBuilder out = new StringBuilder();
        while (!out.toString().contains(marker)) {
            out.append(agent().readStdout(ReadStreamRequest.newBuilder().setContainerId(cid).setExecId(eid)
                    .setLen(4096).build()).getData().toString(StandardCharsets.UTF_8));
        }
        return out.toString();
    }

    private int waitFor(String cid, String eid) {
        return agent().waitProcess(WaitProcessRequest.newBuilder().setContainerId(cid).setExecId(eid).build())
                .getStatus();
    }

    private void remove(String cid) {
        agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(cid).build());
        created.remove(cid);
    }

    private static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    /**
     * Runs a container that sees the guest as a whole: the guest's own /proc is bind-mounted at /guestproc
     * (the agent gives every container a pid namespace of its own).
     */
    private String probeGuest(String script) throws Exception {
        String id = "probe-" + (++counter);
        created.add(id);
        rootfs(id);
        Files.createDirectories(share.resolve(id).resolve("rootfs/guestproc"));
        Spec s = spec(id, process(false, "sh", "-c", script), null, true).toBuilder()
                .addMounts(mount("/guestproc", "/proc", "bind", "rbind", "ro")).build();
        agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id).setExecId(id).setOCI(s).build());
        agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        String out = readAll(id, "");
        assertEquals(0, waitFor(id, ""), out);
        remove(id);
        return out;
    }

    // --- the acceptance, in order ---

    @Test
    @Order(1)
    void sandboxWithTheVirtioFsShare() throws Exception {
        agent().createSandbox(CreateSandboxRequest.newBuilder().setSandboxId("sb-vm").setHostname("podvm")
                .addStorages(Storage.newBuilder().setDriver("virtio-fs").setSource(GuestContract.SHARED_FS_TAG).setFstype("virtiofs")
                        .setMountPoint(SHARED_GUEST))
                .build());
        System.out.println("FIGURE agent in the guest after start and CreateSandbox:\n" + probeGuest(AGENT_STATUS).trim());
        String id = run("echo", process(false, "sh", "-c", "echo hello from $(hostname); cat /proc/1/cmdline | tr '\\0' ' '"));
        String out = readAll(id, "");
        assertEquals(0, waitFor(id, ""));
        assertTrue(out.startsWith("hello from c-" + id + "\n"), out);
        assertTrue(out.contains("sh -c echo hello"), "runs as pid 1 of its own namespace: " + out);
        remove(id);
    }

    @Test
    @Order(2)
    void exitStatusFromWaitProcess() throws Exception {
        String id = run("exit42", process(false, "sh", "-c", "exit 42"));
        assertEquals(42, waitFor(id, ""));
        assertEquals(42, waitFor(id, id), "the init answers to its exec id too");
        remove(id);
    }

    @Test
    @Order(3)
    void execPlainAndWithTtyThenSigkill() throws Exception {
        String id = run("exec", process(false, "sleep", "300"));
        agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("e1")
                .setProcess(process(false, "sh", "-c", "echo exec in $(hostname)")).build());
        assertEquals("exec in c-" + id + "\n", readAll(id, "e1"));
        assertEquals(0, waitFor(id, "e1"));

        agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("cat")
                .setProcess(process(false, "cat")).build());
        assertEquals(5, agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id).setExecId("cat")
                .setData(ByteString.copyFromUtf8("ping\n")).build()).getLen());
        agent().closeStdin(CloseStdinRequest.newBuilder().setContainerId(id).setExecId("cat").build());
        assertEquals("ping\n", readAll(id, "cat"));
        assertEquals(0, waitFor(id, "cat"));

        agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("tty")
                .setProcess(process(true, "sh")).build());
        agent().ttyWinResize(TtyWinResizeRequest.newBuilder().setContainerId(id).setExecId("tty").setRow(41)
                .setColumn(123).build());
        agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id).setExecId("tty")
                .setData(ByteString.copyFromUtf8("stty size; tty; echo D''ONE; exit 3\n")).build());
        String screen = readUntil(id, "tty", "DONE");
        assertTrue(screen.contains("41 123"), screen);
        assertTrue(screen.contains("/dev/pts/"), screen);
        assertEquals(3, waitFor(id, "tty"));

        agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setExecId(id).setSignal(9).build());
        assertEquals(137, waitFor(id, ""));
        remove(id);
    }

    @Test
    @Order(4)
    void statsReportMemory() throws Exception {
        String id = run("stats", process(false, "sh", "-c", "x=$(head -c 2000000 /dev/zero | tr '\\0' a); sleep 300"));
        Thread.sleep(1500);
        StatsContainerResponse s = agent().statsContainer(StatsContainerRequest.newBuilder().setContainerId(id).build());
        long mem = s.getCgroupStats().getMemoryStats().getUsage().getUsage();
        System.out.printf("FIGURE container memory usage %d KiB, cpu %d ns, pids %d%n", mem >> 10,
                s.getCgroupStats().getCpuStats().getCpuUsage().getTotalUsage(),
                s.getCgroupStats().getPidsStats().getCurrent());
        assertTrue(mem > 0, s.toString());
        assertTrue(s.getCgroupStats().getPidsStats().getCurrent() >= 1, s.toString());
        agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setSignal(9).build());
        assertEquals(137, waitFor(id, ""));
        remove(id);
    }

    @Test
    @Order(5)
    void oomKillGivesAnEvent() throws Exception {
        CompletableFuture<OOMEvent> event = CompletableFuture.supplyAsync(() -> AgentServiceGrpc.newBlockingStub(client)
                .withDeadlineAfter(120, TimeUnit.SECONDS).getOOMEvent(GetOOMEventRequest.getDefaultInstance()));
        String id = create("oom", process(false, "tail", "/dev/zero"),
                LinuxResources.newBuilder().setMemory(LinuxMemory.newBuilder().setLimit(32L << 20)).build(), true);
        agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals(137, waitFor(id, ""));
        assertEquals(id, event.get(60, TimeUnit.SECONDS).getContainerId());
        remove(id);
    }

    @Test
    @Order(6)
    void badInputIsNamedAndTheAgentKeepsServing() throws Exception {
        String id = "bad-" + (++counter);
        rootfs(id);
        Spec noArgs = spec(id, process(false).clearArgs(), null, true);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).setOCI(noArgs).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        System.out.println("malformed spec -> " + e.getStatus());
        assertTrue(e.getStatus().getDescription().contains("Args"), e.getStatus().getDescription());
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).build())));

        assertEquals(Status.Code.NOT_FOUND, code(() -> agent().startContainer(
                StartContainerRequest.newBuilder().setContainerId("no-such-container").build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor("no-such-container", "")));
        String live = run("live", process(false, "sleep", "300"));
        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor(live, "no-such-exec")));
        assertEquals(Status.Code.NOT_FOUND, code(() -> agent().readStdout(ReadStreamRequest.newBuilder()
                .setContainerId(live).setExecId("no-such-exec").build())));
        agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(live).setSignal(9).build());
        assertEquals(137, waitFor(live, ""));
        remove(live);

        assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(client)
                .withDeadlineAfter(30, TimeUnit.SECONDS).check(CheckRequest.getDefaultInstance()).getStatus());
        agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id)
                .setOCI(spec(id, process(false, "echo", "fine"), null, true)).build());
        created.add(id);
        agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals("fine\n", readAll(id, ""));
        assertEquals(0, waitFor(id, ""));
        remove(id);
    }

    @Test
    @Order(7)
    void vsockListenerAnswersOverLoopback() throws Exception {
        // The agent's own jar and runtime, run from inside a container chrooted into the guest's root, dial the
        // agent on vsock through the loopback transport (CID 1) and ask Health with hand-made ttrpc frames.
        String id = "vsock-" + (++counter);
        created.add(id);
        rootfs(id);
        Files.createDirectories(share.resolve(id).resolve("rootfs/guest"));
        Process.Builder p = process(false, "chroot", "/guest", "/opt/nemu/agent/runtime/bin/java", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Djna.boot.library.path=/opt/nemu/agent/lib",
                "-Djna.nounpack=true", "-cp", "/opt/nemu/agent/agent.jar", "io.nemu.agent.AgentMain",
                "--probe-vsock", "1:1024");
        p.setCapabilities(p.getCapabilities().toBuilder().addBounding("CAP_SYS_CHROOT").addEffective("CAP_SYS_CHROOT")
                .addPermitted("CAP_SYS_CHROOT"));
        Spec s = spec(id, p, null, true).toBuilder().addMounts(mount("/guest", "/", "bind", "rbind", "ro")).build();
        agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id).setExecId(id).setOCI(s).build());
        agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        String out = readAll(id, "");
        int status = waitFor(id, "");
        System.out.println("vsock loopback probe: " + out.trim());
        assertEquals(0, status, out);
        assertTrue(out.contains("vsock probe 1:1024: SERVING"), out);
        remove(id);
    }

    @Test
    @Order(8)
    void agentFootprint() throws Exception {
        String out = probeGuest(AGENT_STATUS);
        System.out.println("FIGURE agent in the guest after the tests above:\n" + out.trim());
        assertTrue(out.contains("VmRSS"), out);
    }

    @Test
    @Order(10)
    void serialChannelServesAHostThatReconnects() throws Exception {
        client.close();
        client = TtrpcClient.adopt(vm.agentChannel().orElseThrow().dial(Duration.ofSeconds(10)));
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, HealthGrpc.newBlockingStub(client)
                .withDeadlineAfter(30, TimeUnit.SECONDS).check(CheckRequest.getDefaultInstance()).getStatus());
        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor("no-such-container", "")));
    }

    @Test
    @Order(9)
    void removalAndDestroyLeaveNothing() throws Exception {
        for (String id : List.copyOf(created)) {
            try {
                remove(id); // left by a failed test
            } catch (StatusRuntimeException e) {
                created.remove(id);
            }
        }
        String a = run("left-a", process(false, "sleep", "301"));
        String b = run("left-b", process(false, "sleep", "302"));
        remove(a); // while it runs
        String afterRemove = probeGuest(GUEST_VIEW);
        assertFalse(afterRemove.contains("sleep 301"), afterRemove);
        assertTrue(afterRemove.contains("sleep 302"), "the other container still runs: " + afterRemove);
        assertFalse(afterRemove.contains(a), "process or mount of a removed container left: " + afterRemove);

        agent().destroySandbox(DestroySandboxRequest.getDefaultInstance());
        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor(b, "")));
        created.remove(b);
        // Look again from a new sandbox (the probe's rootfs comes through the share the destroy unmounted).
        agent().createSandbox(CreateSandboxRequest.newBuilder().setSandboxId("sb-vm2")
                .addStorages(Storage.newBuilder().setDriver("virtio-fs").setSource(GuestContract.SHARED_FS_TAG).setFstype("virtiofs")
                        .setMountPoint(SHARED_GUEST))
                .build());
        String after = probeGuest(GUEST_VIEW);
        System.out.println("guest after DestroySandbox and a new sandbox:\n" + after);
        assertFalse(after.contains("sleep 30"), "container processes left: " + after);
        String mounts = after.substring(after.indexOf(MOUNTS_MARK));
        assertFalse(mounts.contains(a) || mounts.contains(b), "container mounts left: " + mounts);
        assertEquals(1, mounts.lines().filter(l -> l.contains(" " + SHARED_GUEST + " ")).count(),
                "exactly the new sandbox's share: " + mounts);
        // Besides the share, only the probe's own rootfs may come from the host.
        List<String> fromHost = mounts.lines().filter(l -> l.startsWith(GuestContract.SHARED_FS_TAG + " "))
                .filter(l -> !l.contains(" " + SHARED_GUEST + " ")).toList();
        assertEquals(1, fromHost.size(), "mounts of removed containers: " + fromHost);
        assertTrue(fromHost.get(0).contains("/probe-"), fromHost.get(0));
        List<String> procs = after.substring(0, after.indexOf(MOUNTS_MARK)).lines().toList();
        assertEquals(4, procs.size(), "only /init, acpid, the agent and the probe may run: " + procs);
        agent().destroySandbox(DestroySandboxRequest.getDefaultInstance());
        if (!created.isEmpty()) {
            fail("containers left in the test's list: " + created);
        }
    }
}
