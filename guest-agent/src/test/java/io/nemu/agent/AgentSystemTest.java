package io.nemu.agent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.nemu.proto.kata.CheckRequest;
import io.nemu.proto.kata.CloseStdinRequest;
import io.nemu.proto.kata.CreateContainerRequest;
import io.nemu.proto.kata.CreateSandboxRequest;
import io.nemu.proto.kata.DestroySandboxRequest;
import io.nemu.proto.kata.ExecProcessRequest;
import io.nemu.proto.kata.GetOOMEventRequest;
import io.nemu.proto.kata.HealthCheckResponse;
import io.nemu.proto.kata.LinuxMemory;
import io.nemu.proto.kata.LinuxResources;
import io.nemu.proto.kata.Mount;
import io.nemu.proto.kata.OOMEvent;
import io.nemu.proto.kata.PauseContainerRequest;
import io.nemu.proto.kata.Process;
import io.nemu.proto.kata.ReadStreamRequest;
import io.nemu.proto.kata.ReadStreamResponse;
import io.nemu.proto.kata.RemoveContainerRequest;
import io.nemu.proto.kata.ResumeContainerRequest;
import io.nemu.proto.kata.SignalProcessRequest;
import io.nemu.proto.kata.Spec;
import io.nemu.proto.kata.StartContainerRequest;
import io.nemu.proto.kata.StatsContainerRequest;
import io.nemu.proto.kata.StatsContainerResponse;
import io.nemu.proto.kata.Storage;
import io.nemu.proto.kata.TtyWinResizeRequest;
import io.nemu.proto.kata.UpdateContainerRequest;
import io.nemu.proto.kata.VersionCheckResponse;
import io.nemu.proto.kata.WaitProcessRequest;
import io.nemu.proto.kata.WriteStreamRequest;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The agent against real crun, cgroups and mounts of this host (needs root and crun). */
@Tag("system")
class AgentSystemTest {

    private static TestHost host;
    private final List<String> created = new ArrayList<>();
    private static int counter;

    @BeforeAll
    static void start() throws Exception {
        host = new TestHost(List.of("ip"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (host != null) {
            host.close();
        }
        assertTrue(TestHost.zombies().isEmpty(), "zombie children: " + TestHost.zombies());
    }

    @AfterEach
    void removeLeftovers() {
        for (String id : created) {
            try {
                host.agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(id).build());
            } catch (StatusRuntimeException e) {
                // already removed by the test
            }
        }
    }

    private String newId(String what) {
        String id = what + "-" + ProcessHandle.current().pid() + "-" + (++counter);
        created.add(id);
        return id;
    }

    private String create(String what, Process.Builder process, LinuxResources res) throws Exception {
        String id = newId(what);
        host.rootfs(id);
        // As Kata's runtime does, the init process gets the container id as its exec id.
        host.agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id).setExecId(id)
                .setOCI(host.spec(id, process, res)).build());
        return id;
    }

    private String run(String what, Process.Builder process) throws Exception {
        String id = create(what, process, null);
        host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        return id;
    }

    private static String readAll(String cid, String eid, boolean stdout) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        while (true) {
            try {
                ReadStreamRequest r = ReadStreamRequest.newBuilder().setContainerId(cid).setExecId(eid).setLen(4096).build();
                ReadStreamResponse resp = stdout ? host.agent().readStdout(r) : host.agent().readStderr(r);
                out.writeBytes(resp.getData().toByteArray());
            } catch (StatusRuntimeException e) {
                assertEquals("eof", e.getStatus().getDescription(), e.toString());
                return out.toString(StandardCharsets.UTF_8);
            }
        }
    }

    /** Reads until {@code marker} shows up (a terminal never ends on its own). */
    private static String readUntil(String cid, String eid, String marker) {
        StringBuilder out = new StringBuilder();
        while (!out.toString().contains(marker)) {
            ReadStreamResponse resp = host.agent().readStdout(
                    ReadStreamRequest.newBuilder().setContainerId(cid).setExecId(eid).setLen(4096).build());
            out.append(resp.getData().toString(StandardCharsets.UTF_8));
        }
        return out.toString();
    }

    private static int waitFor(String cid, String eid) {
        return host.agent().waitProcess(WaitProcessRequest.newBuilder().setContainerId(cid).setExecId(eid).build())
                .getStatus();
    }

    private static void remove(String cid) {
        host.agent().removeContainer(RemoveContainerRequest.newBuilder().setContainerId(cid).build());
    }

    private static Status.Code code(Runnable call) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        return e.getStatus().getCode();
    }

    @Test
    void guestDetailsFromThisKernel() {
        var d = host.agent().getGuestDetails(io.nemu.proto.kata.GuestDetailsRequest.newBuilder()
                .setMemBlockSize(true).build());
        if (Files.exists(Path.of("/sys/devices/system/memory/block_size_bytes"))) {
            assertTrue(d.getMemBlockSizeBytes() > 0 && Long.bitCount(d.getMemBlockSizeBytes()) == 1, d.toString());
        }
        assertTrue(d.getAgentDetails().getStorageHandlersList().contains("virtio-fs"));
    }

    @Test
    void healthAndVersion() {
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, host.health().check(CheckRequest.getDefaultInstance()).getStatus());
        VersionCheckResponse v = host.health().version(CheckRequest.getDefaultInstance());
        assertEquals(AgentConfig.VERSION, v.getAgentVersion());
    }

    @Test
    void echoContainerOutputAndCleanRemoval() throws Exception {
        String id = run("echo", TestHost.process(false, "echo", "hello from crun"));
        assertEquals("hello from crun\n", readAll(id, "", true));
        assertEquals("", readAll(id, "", false));
        assertEquals(0, waitFor(id, ""));
        Path bundle = host.cfg.containersDir().resolve(id);
        assertTrue(Files.exists(bundle.resolve("config.json")));
        remove(id);
        assertFalse(Files.exists(bundle), "bundle left behind");
        assertFalse(host.crunContainers().contains(id), "crun still knows " + id);
        assertTrue(host.mountsBelowBase().stream().noneMatch(m -> m.contains(id)), "mounts left: " + host.mountsBelowBase());
        for (Path d : host.cgroupDirs()) {
            assertFalse(Files.exists(d.resolve(id)), "cgroup left: " + d.resolve(id));
        }
        assertTrue(Files.exists(host.cfg.sharedDir().resolve(id).resolve("rootfs/bin/busybox")),
                "the shared rootfs must survive removal");
    }

    @Test
    void exitCodeAndStderrAndLateWait() throws Exception {
        String id = run("exit", TestHost.process(false, "sh", "-c", "echo oops >&2; exit 42"));
        assertEquals("oops\n", readAll(id, "", false));
        assertEquals("", readAll(id, "", true));
        Thread.sleep(300); // the process is long gone when WaitProcess comes
        assertEquals(42, waitFor(id, ""));
        assertEquals(42, waitFor(id, ""), "a second wait sees the same status");
    }

    @Test
    void execPipesTtyResizeAndKill() throws Exception {
        String id = run("exec", TestHost.process(false, "sleep", "300"));

        host.agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("e1")
                .setProcess(TestHost.process(false, "echo", "from exec")).build());
        assertEquals("from exec\n", readAll(id, "e1", true));
        assertEquals(0, waitFor(id, "e1"));

        host.agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("cat")
                .setProcess(TestHost.process(false, "cat")).build());
        assertEquals(5, host.agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id).setExecId("cat")
                .setData(ByteString.copyFromUtf8("ping\n")).build()).getLen());
        host.agent().closeStdin(CloseStdinRequest.newBuilder().setContainerId(id).setExecId("cat").build());
        assertEquals("ping\n", readAll(id, "cat", true));
        assertEquals(0, waitFor(id, "cat"));

        host.agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("tty")
                .setProcess(TestHost.process(true, "sh")).build());
        host.agent().ttyWinResize(TtyWinResizeRequest.newBuilder().setContainerId(id).setExecId("tty")
                .setRow(41).setColumn(123).build());
        host.agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id).setExecId("tty")
                .setData(ByteString.copyFromUtf8("stty size; tty; echo D''ONE; exit 3\n")).build());
        String screen = readUntil(id, "tty", "DONE");
        assertTrue(screen.contains("41 123"), screen);
        assertTrue(screen.contains("/dev/pts/"), screen);
        assertEquals(3, waitFor(id, "tty"));

        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor(id, "no-such-exec")));

        host.agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setSignal(15).build());
        assertEquals(137, waitFor(id, ""), "sleep has no SIGTERM handler: killed as Kata does");
        remove(id);
    }

    @Test
    void containerWithTerminal() throws Exception {
        String id = create("term", TestHost.process(true, "sh", "-c", "stty size; read line; echo got $line; exit 7"), null);
        // sized before it starts, so its first look at the terminal sees it
        host.agent().ttyWinResize(TtyWinResizeRequest.newBuilder().setContainerId(id).setRow(33).setColumn(99).build());
        host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertTrue(readUntil(id, "", "33 99").contains("33 99"));
        host.agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id)
                .setData(ByteString.copyFromUtf8("hello\n")).build());
        assertTrue(readUntil(id, "", "got hello").contains("got hello"));
        assertEquals(7, waitFor(id, ""));
        assertEquals(Status.Code.OUT_OF_RANGE, code(() -> host.agent().readStderr(
                ReadStreamRequest.newBuilder().setContainerId(id).build())), "a terminal has no separate stderr");
        remove(id);
    }

    @Test
    void signalKillsExecOnly() throws Exception {
        String id = run("sig", TestHost.process(false, "sleep", "300"));
        host.agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("s")
                .setProcess(TestHost.process(false, "sleep", "200")).build());
        host.agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setExecId("s").setSignal(9).build());
        assertEquals(137, waitFor(id, "s"));
        CompletableFuture<Integer> init = CompletableFuture.supplyAsync(() -> waitFor(id, id));
        Thread.sleep(300);
        assertFalse(init.isDone(), "the container's init must survive its exec's death");
        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> host.agent().execProcess(ExecProcessRequest.newBuilder()
                .setContainerId(id).setExecId(id).setProcess(TestHost.process(false, "true")).build())));
        host.agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setExecId(id).setSignal(9).build());
        assertEquals(137, init.get(30, TimeUnit.SECONDS));
        assertEquals(137, waitFor(id, ""));
    }

    @Test
    void largeOutputAndInputFlowWithBackpressure() throws Exception {
        // 3 MB through a 1 MiB buffer: the container must wait for the reader, and nothing is lost.
        String id = run("big", TestHost.process(false, "sh", "-c", "head -c 3000000 /dev/zero; sleep 300"));
        Thread.sleep(500);
        ReadStreamResponse first = host.agent().readStdout(
                ReadStreamRequest.newBuilder().setContainerId(id).setLen(100).build());
        assertEquals(100, first.getData().size());
        long total = first.getData().size();
        while (total < 3_000_000) {
            total += host.agent().readStdout(ReadStreamRequest.newBuilder().setContainerId(id)
                    .setLen(64 * 1024).build()).getData().size();
        }
        assertEquals(3_000_000, total);

        host.agent().execProcess(ExecProcessRequest.newBuilder().setContainerId(id).setExecId("wc")
                .setProcess(TestHost.process(false, "wc", "-c")).build());
        byte[] chunk = new byte[256 * 1024];
        for (int i = 0; i < 8; i++) {
            assertEquals(chunk.length, host.agent().writeStdin(WriteStreamRequest.newBuilder().setContainerId(id)
                    .setExecId("wc").setData(ByteString.copyFrom(chunk)).build()).getLen());
        }
        host.agent().closeStdin(CloseStdinRequest.newBuilder().setContainerId(id).setExecId("wc").build());
        assertEquals("2097152", readAll(id, "wc", true).trim());
        assertEquals(0, waitFor(id, "wc"));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> host.agent().writeStdin(WriteStreamRequest
                .newBuilder().setContainerId(id).setExecId("wc").setData(ByteString.copyFromUtf8("late")).build())));

        host.agent().signalProcess(SignalProcessRequest.newBuilder().setContainerId(id).setSignal(9).build());
        assertEquals(137, waitFor(id, ""));
        assertEquals(Status.Code.FAILED_PRECONDITION, code(() -> host.agent().execProcess(ExecProcessRequest
                .newBuilder().setContainerId(id).setExecId("late").setProcess(TestHost.process(false, "true")).build())));
    }

    @Test
    void statsPauseResumeUpdate() throws Exception {
        String id = run("stats", TestHost.process(false, "sh", "-c", "x=$(yes | head -c 4000000); sleep 300"));
        Thread.sleep(500);
        StatsContainerResponse s = host.agent().statsContainer(StatsContainerRequest.newBuilder().setContainerId(id).build());
        assertTrue(s.getCgroupStats().getMemoryStats().getUsage().getUsage() > 0, s.toString());
        assertTrue(s.getCgroupStats().getCpuStats().getCpuUsage().getTotalUsage() > 0, s.toString());
        assertTrue(s.getCgroupStats().getPidsStats().getCurrent() >= 1, s.toString());

        Path freezer = Path.of("/sys/fs/cgroup/freezer" + host.cgroupParent + "/" + id + "/freezer.state");
        host.agent().pauseContainer(PauseContainerRequest.newBuilder().setContainerId(id).build());
        if (Files.isDirectory(Path.of("/sys/fs/cgroup/freezer"))) {
            assertEquals("FROZEN", Files.readString(freezer).trim());
        }
        host.agent().resumeContainer(ResumeContainerRequest.newBuilder().setContainerId(id).build());
        if (Files.isDirectory(Path.of("/sys/fs/cgroup/freezer"))) {
            assertEquals("THAWED", Files.readString(freezer).trim());
        }

        host.agent().updateContainer(UpdateContainerRequest.newBuilder().setContainerId(id).setResources(
                LinuxResources.newBuilder().setMemory(LinuxMemory.newBuilder().setLimit(200L << 20))).build());
        s = host.agent().statsContainer(StatsContainerRequest.newBuilder().setContainerId(id).build());
        if (!Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"))) {
            assertEquals(200L << 20, s.getCgroupStats().getMemoryStats().getUsage().getLimit());
        }
        int pid = pidOf(id);
        remove(id); // while it runs
        assertFalse(Files.exists(Path.of("/proc/" + pid)), "init of a removed container still alive");
        assertTrue(host.cgroupDirs().stream().noneMatch(d -> Files.exists(d.resolve(id))), "cgroup left");
    }

    @Test
    void oomKillIsReported() throws Exception {
        CompletableFuture<OOMEvent> event = CompletableFuture.supplyAsync(() ->
                host.agent().withDeadlineAfter(120, TimeUnit.SECONDS).getOOMEvent(GetOOMEventRequest.getDefaultInstance()));
        String id = create("oom", TestHost.process(false, "tail", "/dev/zero"),
                LinuxResources.newBuilder().setMemory(LinuxMemory.newBuilder().setLimit(32L << 20)).build());
        host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals(137, waitFor(id, ""));
        assertEquals(id, event.get(60, TimeUnit.SECONDS).getContainerId());
        // one kill, one event: the next long poll times out (and the agent lets go of it)
        assertEquals(Status.Code.DEADLINE_EXCEEDED, code(() -> host.agent().withDeadlineAfter(1500, TimeUnit.MILLISECONDS)
                .getOOMEvent(GetOOMEventRequest.getDefaultInstance())));
        remove(id);
    }

    @Test
    void errorsNameTheProblemAndServiceKeepsServing() throws Exception {
        String id = newId("bad");
        host.rootfs(id);
        Spec noArgs = host.spec(id, TestHost.process(false).clearArgs(), null);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).setOCI(noArgs).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("Args"), e.getStatus().getDescription());

        Spec relMount = host.spec(id, TestHost.process(false, "true"), null).toBuilder()
                .addMounts(Mount.newBuilder().setDestination("relative/dir").setType("tmpfs").setSource("tmpfs")).build();
        e = assertThrows(StatusRuntimeException.class, () -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).setOCI(relMount).build()));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertTrue(e.getStatus().getDescription().contains("relative/dir"), e.getStatus().getDescription());

        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId("../evil").setOCI(relMount).build())));
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).build())));
        Spec noRoot = host.spec("missing", TestHost.process(false, "true"), null);
        assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId("missing-rootfs").setOCI(noRoot).build())));
        // a spec crun itself refuses: the failure is reported and nothing is left behind
        Spec badRlimit = host.spec(id, TestHost.process(false, "true")
                .addRlimits(io.nemu.proto.kata.POSIXRlimit.newBuilder().setType("RLIMIT_BOGUS").setHard(1).setSoft(1)), null);
        e = assertThrows(StatusRuntimeException.class, () -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id).setOCI(badRlimit).build()));
        assertEquals(Status.Code.INTERNAL, e.getStatus().getCode());
        assertFalse(Files.exists(host.cfg.containersDir().resolve(id)), "bundle left after failed create");
        assertTrue(host.mountsBelowBase().stream().noneMatch(m -> m.contains(id)), host.mountsBelowBase().toString());

        String ghost = "no-such-container";
        assertEquals(Status.Code.NOT_FOUND, code(() -> host.agent().startContainer(
                StartContainerRequest.newBuilder().setContainerId(ghost).build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor(ghost, "")));
        assertEquals(Status.Code.NOT_FOUND, code(() -> host.agent().signalProcess(
                SignalProcessRequest.newBuilder().setContainerId(ghost).setSignal(9).build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> host.agent().readStdout(
                ReadStreamRequest.newBuilder().setContainerId(ghost).build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> host.agent().statsContainer(
                StatsContainerRequest.newBuilder().setContainerId(ghost).build())));
        assertEquals(Status.Code.NOT_FOUND, code(() -> remove(ghost)));
        StatusRuntimeException un = assertThrows(StatusRuntimeException.class, () -> host.agent().getIPTables(
                io.nemu.proto.kata.GetIPTablesRequest.getDefaultInstance()));
        assertEquals(Status.Code.UNIMPLEMENTED, un.getStatus().getCode());
        assertTrue(un.getStatus().getDescription().contains("GetIPTables"), un.getStatus().getDescription());

        // still serving, and the same id now works
        assertEquals(HealthCheckResponse.ServingStatus.SERVING, host.health().check(CheckRequest.getDefaultInstance()).getStatus());
        host.agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(id)
                .setOCI(host.spec(id, TestHost.process(false, "echo", "fine"), null)).build());
        host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(id).build());
        assertEquals("fine\n", readAll(id, "", true));
        assertEquals(0, waitFor(id, ""));
        assertEquals(Status.Code.ALREADY_EXISTS, code(() -> host.agent().createContainer(
                CreateContainerRequest.newBuilder().setContainerId(id)
                        .setOCI(host.spec(id, TestHost.process(false, "true"), null)).build())));
    }

    @Test
    void destroySandboxLeavesNothing() throws Exception {
        Path local = host.base.resolve("local-vol");
        Path eph = host.base.resolve("eph");
        host.agent().createSandbox(CreateSandboxRequest.newBuilder().setSandboxId("sb").setHostname("pod")
                .addDns("nameserver 192.0.2.53").addDns("search example.test")
                .addStorages(Storage.newBuilder().setDriver("local").setMountPoint(local.toString()))
                .addStorages(Storage.newBuilder().setDriver("ephemeral").setMountPoint(eph.toString()))
                .setSandboxPidns(true)
                .build());
        try {
            assertEquals("nameserver 192.0.2.53\nsearch example.test\n", Files.readString(host.cfg.resolvConf()));
            assertTrue(Files.isDirectory(local));
            assertTrue(host.mountsBelowBase().contains(eph.toString()));
            String a = run("sb-a", TestHost.process(false, "sleep", "300"));
            // the second as the kubelet nests them: parent cgroups the agent must clean up too
            String b = newId("sb-b");
            host.rootfs(b);
            Spec nested = host.spec(b, TestHost.process(false, "sh", "-c", "sleep 300"), null);
            nested = nested.toBuilder().setLinux(nested.getLinux().toBuilder()
                    .setCgroupsPath(host.cgroupParent + "/kubepods/besteffort/pod1/" + b)).build();
            host.agent().createContainer(CreateContainerRequest.newBuilder().setContainerId(b).setOCI(nested).build());
            host.agent().startContainer(StartContainerRequest.newBuilder().setContainerId(b).build());
            assertTrue(Files.isDirectory(Path.of("/sys/fs/cgroup/memory" + host.cgroupParent + "/kubepods/besteffort/pod1/" + b)));
            int pidA = pidOf(a);
            int pidB = pidOf(b);
            assertTrue(Files.readSymbolicLink(Path.of("/proc/" + pidA + "/ns/pid"))
                    .equals(Files.readSymbolicLink(Path.of("/proc/" + pidB + "/ns/pid"))), "sandbox pid namespace shared");
            host.agent().destroySandbox(DestroySandboxRequest.getDefaultInstance());
            assertFalse(Files.exists(Path.of("/proc/" + pidA)), "process of " + a + " left");
            assertFalse(Files.exists(Path.of("/proc/" + pidB)), "process of " + b + " left");
            assertEquals(List.of(), host.crunContainers());
            assertEquals(List.of(), host.mountsBelowBase());
            assertEquals(List.of(), host.cgroupDirs());
            assertEquals(Status.Code.NOT_FOUND, code(() -> waitFor(a, "")));
            // and a new sandbox can follow
            host.agent().createSandbox(CreateSandboxRequest.newBuilder().setSandboxId("sb2").build());
        } finally {
            host.agent().destroySandbox(DestroySandboxRequest.getDefaultInstance());
        }
    }

    private static int pidOf(String cid) throws Exception {
        return Integer.parseInt(Files.readString(host.cfg.containersDir().resolve(cid).resolve("pid")).trim());
    }
}
