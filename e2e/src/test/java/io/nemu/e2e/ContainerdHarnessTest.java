package io.nemu.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.nemu.e2e.support.Containerd;
import io.nemu.e2e.support.ContainerdEvents;
import io.nemu.e2e.support.Leftovers;
import io.nemu.e2e.support.Rootfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The containerd harness against the real containerd installed on the machine. */
@Tag("system")
class ContainerdHarnessTest {
    @RegisterExtension
    static final Leftovers LEFTOVERS = Leftovers.afterEach();

    private static final Duration EVENT_TIMEOUT = Duration.ofSeconds(10);
    /** Where containerd-shim-runc-v2 keeps runc's state for namespace "default". */
    private static final Path RUNC_STATE = Path.of("/run/containerd/runc/default");

    @Test
    void servesCtrAndEventsThenLeavesNothing() throws IOException {
        Containerd containerd = LEFTOVERS.containerd(Containerd.start());
        Path dir = containerd.directory();
        long pid = containerd.pid();
        ContainerdEvents events;
        try {
            assertTrue(Files.isDirectory(dir));
            assertTrue(containerd.grpcAddress().startsWith(dir.toString()));
            assertTrue(containerd.ttrpcAddress().startsWith(dir.toString()));

            Containerd.CtrResult version = containerd.ctr("version").requireOk();
            String server = serverVersion(version.stdout())
                    .orElseThrow(() -> new AssertionError("no server version in: " + version.stdout()));
            String installed = run("containerd", "--version");
            assertTrue(installed.contains(" " + server + " "), "server " + server + " vs binary " + installed);
            System.out.println("containerd server version " + server + ", pid " + pid + ", dir " + dir);

            events = containerd.events();
            assertTrue(events.isAlive());
            containerd.ctr("namespaces", "create", "harness-check").requireOk();
            ContainerdEvents.Event created = events.await("namespace harness-check created",
                    e -> e.topic().equals("/namespaces/create"), EVENT_TIMEOUT);
            assertEquals("default", created.namespace());
            assertEquals("{\"name\":\"harness-check\"}", created.json());
            assertTrue(created.timestamp().endsWith(" +0000 UTC"), created.line());

            // A filtered stream only hands out what matches.
            ContainerdEvents filtered = containerd.events("topic==\"/namespaces/delete\"");
            containerd.ctr("namespaces", "remove", "harness-check").requireOk();
            ContainerdEvents.Event removed = filtered.awaitTopic("/namespaces/delete", EVENT_TIMEOUT);
            assertEquals("{\"name\":\"harness-check\"}", removed.json());
            filtered.close();
            assertFalse(filtered.isAlive());
        } finally {
            containerd.close();
        }
        assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "containerd still runs");
        assertFalse(events.isAlive(), "ctr events still runs");
        assertFalse(Files.exists(dir), dir + " left behind");
    }

    @Test
    void criPluginStartsWithThisMachinesSettings() throws IOException {
        try (Containerd containerd = LEFTOVERS.containerd(Containerd.builder().cri(true).sandboxImage("nemu.test/pause:1")
                .start())) {
            String config = Files.readString(containerd.directory().resolve("config.toml"));
            assertTrue(config.contains("restrict_oom_score_adj = true"), config);
            assertTrue(config.contains("\"SystemdCgroup\" = false"), config);
            assertTrue(config.contains("bin_dir = \"/usr/lib/cni\""), config);
            assertTrue(config.contains("sandbox_image = \"nemu.test/pause:1\""), config);

            String plugins = containerd.ctr("plugins", "ls").requireOk().stdout();
            assertTrue(plugins.lines().anyMatch(l -> l.matches("io\\.containerd\\.grpc\\.v1\\s+cri\\s+\\S+\\s+ok\\s*")),
                    "CRI plugin not ok:\n" + plugins + "\nlog:\n" + containerd.logTail(20));
        }
    }

    @Test
    void criPluginIsOffByDefault() throws IOException {
        try (Containerd containerd = LEFTOVERS.containerd(Containerd.start())) {
            String plugins = containerd.ctr("plugins", "ls").requireOk().stdout();
            assertFalse(plugins.lines().anyMatch(l -> l.matches("io\\.containerd\\.grpc\\.v1\\s+cri\\s+.*ok\\s*")),
                    plugins);
        }
    }

    @Test
    void failedStartNamesTheCauseAndCleansUp(@TempDir Path parent) {
        IOException e = assertThrows(IOException.class, () -> Containerd.builder()
                .tempParent(parent).extraConfig("[this is not toml").startTimeout(Duration.ofSeconds(10)).start());
        assertTrue(e.getMessage().contains("containerd exited with status"), e.getMessage());
        assertTrue(e.getMessage().toLowerCase().contains("toml"), "log tail should say why: " + e.getMessage());
        try (Stream<Path> left = Files.list(parent)) {
            assertEquals(List.of(), left.toList());
        } catch (IOException io) {
            throw new AssertionError(io);
        }
    }

    @Test
    void closeEndsTasksTheTestLeftRunning(@TempDir Path work) throws IOException {
        assertLeftoverTaskCleanedUp(work, false);
    }

    @Test
    void closeCleansUpAfterContainerdWasKilled(@TempDir Path work) throws IOException {
        assertLeftoverTaskCleanedUp(work, true);
    }

    /** Leaves a runc task running (then maybe SIGKILLs containerd) and checks close() removes every trace. */
    private static void assertLeftoverTaskCleanedUp(Path work, boolean killContainerd) throws IOException {
        Path rootfs = Rootfs.busybox(work.resolve("rootfs"));
        Containerd containerd = LEFTOVERS.containerd(Containerd.start());
        Path dir = containerd.directory();
        String id = (killContainerd ? "killed-" : "left-") + ProcessHandle.current().pid();
        Path shimSocket = Containerd.SHIM_SOCKET_DIR.resolve(
                Containerd.shimSocketName(containerd.grpcAddress(), "default", id));
        List<ProcessHandle> shims;
        long taskPid;
        try {
            containerd.ctr("run", "-d", "--runtime", "io.containerd.runc.v2", "--rootfs", rootfs.toString(), id,
                    "/bin/sleep", "600").requireOk();
            String tasks = containerd.ctr("tasks", "list").requireOk().stdout();
            Matcher m = Pattern.compile("(?m)^" + id + "\\s+(\\d+)\\s+RUNNING").matcher(tasks);
            assertTrue(m.find(), tasks);
            taskPid = Long.parseLong(m.group(1));
            shims = containerd.shimProcesses();
            assertEquals(1, shims.size(), "shims of this containerd: " + shims);
            assertTrue(Files.exists(shimSocket), "shim socket " + shimSocket);
            assertTrue(Files.exists(RUNC_STATE.resolve(id)), "runc state");
            if (killContainerd) {
                ProcessHandle handle = ProcessHandle.of(containerd.pid()).orElseThrow();
                handle.destroyForcibly();
                handle.onExit().get(10, TimeUnit.SECONDS);
                assertFalse(containerd.isAlive(), "containerd survived SIGKILL");
                assertTrue(shims.get(0).isAlive(), "the shim outlives containerd");
            }
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            throw new AssertionError("containerd did not die", e);
        } finally {
            containerd.close();
        }
        assertFalse(ProcessHandle.of(taskPid).map(ProcessHandle::isAlive).orElse(false), "task still runs");
        for (ProcessHandle shim : shims) {
            assertFalse(shim.isAlive(), "shim " + shim.pid() + " still runs");
        }
        assertFalse(Files.exists(shimSocket), "shim socket left");
        assertFalse(Files.exists(RUNC_STATE.resolve(id)), "runc state left");
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/pids/default").resolve(id)), "cgroup left");
        assertFalse(Files.exists(dir), dir + " left behind");
        assertFalse(Files.readString(Path.of("/proc/self/mountinfo")).contains(dir.toString()), "mounts left");
    }

    /** The Version line of the "Server:" section of `ctr version`. */
    private static Optional<String> serverVersion(String ctrVersion) {
        Matcher m = Pattern.compile("(?s)Server:.*?Version:\\s+(\\S+)").matcher(ctrVersion);
        return m.find() ? Optional.of(m.group(1)) : Optional.empty();
    }

    private static String run(String... command) throws IOException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes());
            p.waitFor();
            return out.strip();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
