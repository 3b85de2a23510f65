package io.nemu.e2e.support;

import io.nemu.shim.cli.ShimSocket;
import io.nemu.shim.daemon.DaemonLock;
import io.nemu.shim.sandbox.SandboxPaths;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * The one leftovers check of the system tests: after the test (or the class) nothing it made may remain.
 * A test registers what is its own, since other runs may use the same machine at the same time:
 * <ul>
 * <li>{@link #sandbox}: no process naming the sandbox (QEMU and virtiofsd through the sandbox's folders), no
 * mount point naming it, no state or shared folder under /run/nemu, no cgroup folder named after it (the
 * shim's sandbox cgroup, runc's container cgroup);</li>
 * <li>{@link #containerd}: no process naming its folder (its shim daemons do), no shim daemon's socket, lock or
 * log of it left in /run/containerd/s and /run/nemu/daemons;</li>
 * <li>{@link #dir}: no mount at or below the folder, no process naming it; {@link #gone}: the path is gone;</li>
 * <li>{@link #netns}: the network namespace is gone; {@link #link}: no such link in the host's namespace.</li>
 * </ul>
 * Always checked: no QEMU, virtiofsd, containerd, shim or ctr this JVM started still runs, and no tap of the
 * shim ({@code *_kata}) appeared in the host's network namespace. Register as an extension whose check runs
 * after the test's own {@code @AfterEach} ({@link #afterEach()}) or {@code @AfterAll} ({@link #afterAll()}):
 * <pre>{@code @RegisterExtension static final Leftovers LEFTOVERS = Leftovers.afterEach();}</pre>
 * A test may also check in its middle ({@link #assertNone()}), e.g. that a sandbox is gone before containerd is.
 */
public final class Leftovers implements BeforeAllCallback, BeforeEachCallback, AfterEachCallback, AfterAllCallback {
    /** Processes exit, and the shim removes its folders, a moment after the call that ended them returns. */
    private static final Duration SETTLE = Duration.ofSeconds(20);
    private static final Path NETNS_DIR = Path.of("/var/run/netns");
    private static final Path HOST_LINKS = Path.of("/sys/class/net");

    private final boolean perTest;
    private final Set<String> sandboxes = new LinkedHashSet<>();
    private final Set<Path> dirs = new LinkedHashSet<>();
    private final Set<Path> gone = new LinkedHashSet<>();
    private final Set<String> netns = new LinkedHashSet<>();
    private final Set<String> links = new LinkedHashSet<>();
    private Set<String> tapsBefore = Set.of();

    private Leftovers(boolean perTest) {
        this.perTest = perTest;
    }

    /** Checked after every test (after its {@code @AfterEach}); what was registered is forgotten then. */
    public static Leftovers afterEach() {
        return new Leftovers(true);
    }

    /** Checked once, after the class's {@code @AfterAll}. */
    public static Leftovers afterAll() {
        return new Leftovers(false);
    }

    /** A check of these sandboxes alone, for the middle of a test. */
    public static Leftovers ofSandboxes(String... ids) {
        Leftovers l = new Leftovers(true);
        Arrays.stream(ids).forEach(l::sandbox);
        return l;
    }

    public synchronized String sandbox(String id) {
        sandboxes.add(id);
        return id;
    }

    public synchronized Path dir(Path dir) {
        dirs.add(dir.toAbsolutePath().normalize());
        return dir;
    }

    public synchronized Path gone(Path path) {
        gone.add(path);
        return path;
    }

    public synchronized String netns(String name) {
        netns.add(name);
        return name;
    }

    public synchronized String link(String name) {
        links.add(name);
        return name;
    }

    /**
     * A containerd of the harness: its folder must be gone and nothing may name it (its shims do); the shim
     * daemon of each of its namespaces the tests use must have removed its socket, lock and log.
     */
    public Containerd containerd(Containerd c) {
        dir(c.directory());
        gone(c.directory());
        for (String ns : List.of("default", "k8s.io")) {
            Path socket = ShimSocket.daemonPath(c.grpcAddress(), ns);
            gone(socket);
            gone(DaemonLock.file(socket));
            gone(DaemonLock.logFile(socket));
        }
        return c;
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        if (!perTest) {
            tapsBefore = hostTaps();
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        if (perTest) {
            tapsBefore = hostTaps();
        }
    }

    @Override
    public void afterEach(ExtensionContext context) throws Exception {
        if (perTest) {
            check();
        }
    }

    @Override
    public void afterAll(ExtensionContext context) throws Exception {
        if (!perTest) {
            check();
        }
    }

    private void check() throws IOException {
        try {
            assertNone(true, SETTLE);
        } finally {
            synchronized (this) {
                sandboxes.clear();
                dirs.clear();
                gone.clear();
                netns.clear();
                links.clear();
            }
        }
    }

    /** Fails, naming each, if anything registered is still there once {@link #SETTLE} has passed. */
    public void assertNone() throws IOException {
        assertNone(false, SETTLE);
    }

    /** {@link #assertNone()} with another time to settle. */
    void assertNone(Duration settle) throws IOException {
        assertNone(false, settle);
    }

    private void assertNone(boolean withStrays, Duration settle) throws IOException {
        List<String> left = find(withStrays);
        long deadline = System.nanoTime() + settle.toNanos();
        while (!left.isEmpty() && System.nanoTime() < deadline) {
            Containerd.sleep(250);
            left = find(withStrays);
        }
        if (!left.isEmpty()) {
            throw new AssertionError("left behind:\n  " + String.join("\n  ", left));
        }
    }

    /** What is left now of everything registered (and, with {@code withStrays}, of what this JVM started). */
    public synchronized List<String> find(boolean withStrays) throws IOException {
        List<String> left = new ArrayList<>();
        for (Proc p : processes()) {
            for (String id : sandboxes) {
                if (p.names(id)) {
                    left.add("process of sandbox " + id + ": " + p);
                }
            }
            for (Path d : dirs) {
                if (names(p.cmdline, d.toString())) {
                    left.add("process naming " + d + ": " + p);
                }
            }
        }
        List<String> mounts = FileTrees.mountPoints();
        for (String point : mounts) {
            for (String id : sandboxes) {
                if (names(point, id)) {
                    left.add("mount of sandbox " + id + ": " + point);
                }
            }
        }
        for (Path d : dirs) {
            Path real = Files.exists(d) ? d.toRealPath() : d;
            FileTrees.mountPointsUnder(real).forEach(m -> left.add("mount under " + d + ": " + m));
        }
        for (String id : sandboxes) {
            SandboxPaths paths = SandboxPaths.of(id);
            for (Path p : List.of(paths.state(), paths.sharedBase())) {
                if (Files.exists(p)) {
                    left.add("folder of sandbox " + id + ": " + p);
                }
            }
        }
        for (String id : sandboxes) {
            PodCgroup.foldersNamed(id).forEach(p -> left.add("cgroup of sandbox " + id + ": " + p));
        }
        gone.stream().filter(Files::exists).forEach(p -> left.add("still there: " + p));
        netns.stream().filter(n -> Files.exists(NETNS_DIR.resolve(n)))
                .forEach(n -> left.add("network namespace " + NETNS_DIR.resolve(n)));
        links.stream().filter(l -> Files.exists(HOST_LINKS.resolve(l)))
                .forEach(l -> left.add("link " + l + " in the host's network namespace"));
        if (withStrays) {
            left.addAll(strays());
            hostTaps().stream().filter(t -> !tapsBefore.contains(t))
                    .forEach(t -> left.add("tap " + t + " in the host's network namespace"));
        }
        return left;
    }

    /** QEMU, virtiofsd, containerd, shims and ctr that this JVM started and that still run. */
    public static List<String> strays() {
        List<String> left = new ArrayList<>();
        ProcessHandle.current().descendants().filter(ProcessHandle::isAlive).forEach(h -> {
            String exe = h.info().command().orElse("");
            String name = exe.substring(exe.lastIndexOf('/') + 1);
            if (name.startsWith("qemu-system") || name.equals("virtiofsd") || name.startsWith("containerd")
                    || name.equals("ctr")) {
                left.add("process this JVM started: " + h.pid() + " " + h.info().commandLine().orElse(exe));
            }
        });
        return left;
    }

    /** Links named like the shim's taps in the host's namespace (the shim makes them only in a pod's). */
    private static Set<String> hostTaps() {
        Set<String> taps = new LinkedHashSet<>();
        try (Stream<Path> s = Files.list(HOST_LINKS)) {
            s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith("_kata")).forEach(taps::add);
        } catch (IOException e) {
            // no sysfs: nothing to compare
        }
        return taps;
    }

    /** Waits up to 20 s for {@code condition} (e.g. a process gone); the caller's asserts say what is wrong. */
    public static void await(Condition condition) throws Exception {
        long deadline = System.nanoTime() + SETTLE.toNanos();
        while (!condition.holds() && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
    }

    /** Something a test waits for. */
    public interface Condition {
        boolean holds() throws Exception;
    }

    /** Whether {@code text} holds {@code id} (or a path) as a whole name: a path element, an argument, a value. */
    static boolean names(String text, String id) {
        for (int i = text.indexOf(id); i >= 0; i = text.indexOf(id, i + 1)) {
            int end = i + id.length();
            if ((i == 0 || !nameChar(text.charAt(i - 1))) && (end == text.length() || !nameChar(text.charAt(end)))) {
                return true;
            }
        }
        return false;
    }

    private static boolean nameChar(char c) {
        return Character.isLetterOrDigit(c) || c == '-' || c == '_' || c == '.';
    }

    /** Processes whose command line names sandbox {@code id}: its shim daemon, QEMU, virtiofsd. */
    public static List<Proc> processesNaming(String id) throws IOException {
        return processesNaming(List.of(id));
    }

    /** Processes whose command line names one of these sandboxes (one scan of /proc). */
    public static List<Proc> processesNaming(List<String> ids) throws IOException {
        return processes().stream().filter(p -> ids.stream().anyMatch(p::names)).toList();
    }

    /** One process: its pid and command line. */
    public record Proc(long pid, String cmdline) {
        boolean names(String id) {
            return Leftovers.names(cmdline, id);
        }

        @Override
        public String toString() {
            return pid + " " + (cmdline.length() > 240 ? cmdline.substring(0, 240) + "..." : cmdline);
        }
    }

    private static List<Proc> processes() throws IOException {
        List<Proc> all = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (Stream<Path> s = Files.list(Path.of("/proc"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                String name = p.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit) || Long.parseLong(name) == self) {
                    continue;
                }
                try {
                    String raw = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8);
                    if (!raw.isEmpty()) {
                        all.add(new Proc(Long.parseLong(name), raw.replace('\0', ' ').strip()));
                    }
                } catch (IOException exited) {
                    // gone meanwhile
                }
            }
        }
        return all;
    }
}
