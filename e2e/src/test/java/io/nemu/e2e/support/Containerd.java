package io.nemu.e2e.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A private containerd for one test: its own config, root, state and sockets in a temp directory,
 * started as a child process and stopped by its pid. {@link #close()} also ends shims this
 * instance left behind (found by this instance's unique socket address), unmounts whatever is
 * still mounted under the directory and removes it.
 *
 * <p>Shim sockets are not private: containerd 1.6 shims put them in {@code /run/containerd/s/}.
 */
public final class Containerd implements AutoCloseable {

    /** Where containerd 1.6 shims create their sockets, whatever containerd's state dir is. */
    public static final Path SHIM_SOCKET_DIR = Paths.get("/run/containerd/s");

    private static final String CRI_PLUGIN = "io.containerd.grpc.v1.cri";
    private static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    private static final int UNIX_PATH_MAX = 107;

    private final Builder options;
    private final Path dir;
    private final Path root;
    private final Path state;
    private final Path grpcSocket;
    private final Path ttrpcSocket;
    private final Path logFile;
    private final String path;
    private final String containerdBinary;
    /** The running containerd; replaced by {@link #restart()}. */
    private volatile Process process;
    private volatile Thread shutdownHook;
    private final List<ContainerdEvents> eventStreams = new CopyOnWriteArrayList<>();
    private final AtomicInteger ctrCount = new AtomicInteger();
    private volatile boolean closed;

    private Containerd(Builder options) throws IOException {
        this.options = options;
        String containerd = findExecutable(options.containerdBinary, options.extraPath);
        findExecutable(options.ctrBinary, options.extraPath);
        this.dir = Files.createTempDirectory(options.tempParent, "nemu-containerd-").toRealPath();
        this.root = dir.resolve("root");
        this.state = dir.resolve("state");
        this.grpcSocket = dir.resolve("containerd.sock");
        this.ttrpcSocket = dir.resolve("containerd.sock.ttrpc");
        this.logFile = dir.resolve("containerd.log");
        this.path = searchPath(options.extraPath);
        this.containerdBinary = containerd;
        try {
            if (ttrpcSocket.toString().length() > UNIX_PATH_MAX) {
                throw new IOException("socket path too long for a unix socket (" + ttrpcSocket
                        + "); use a shorter tempParent");
            }
            Files.createDirectories(dir.resolve("ctr"));
            Files.writeString(dir.resolve("config.toml"), configToml());
            launch();
        } catch (IOException | RuntimeException e) {
            try {
                FileTrees.unmountUnder(dir);
                FileTrees.delete(dir);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw e;
        }
    }

    /** Starts containerd on this instance's config and waits for its sockets; on failure nothing of it runs. */
    private void launch() throws IOException {
        Process started = null;
        Thread hook = null;
        try {
            ProcessBuilder pb = new ProcessBuilder(containerdBinary, "--config", dir.resolve("config.toml").toString())
                    .directory(dir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
            pb.environment().put("PATH", path);
            pb.environment().putAll(options.env);
            started = pb.start();
            Process child = started;
            // A JVM killed by Ctrl-C or a surefire timeout must not leave containerd behind.
            hook = new Thread(() -> stopProcess(child, Duration.ofSeconds(5)), "containerd-" + child.pid() + "-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            awaitSockets(started);
        } catch (IOException | RuntimeException e) {
            if (started != null) {
                stopProcess(started, options.stopTimeout);
            }
            if (hook != null) {
                removeHook(hook);
            }
            throw e;
        }
        this.process = started;
        this.shutdownHook = hook;
    }

    /**
     * Stops containerd alone, as a node's containerd stops for an upgrade or a crash: SIGTERM, SIGKILL after
     * the stop timeout (by its pid), leaving the shims and what they run alone; the sockets it leaves are removed
     * so that {@link #startAgain()} can be awaited. Event streams end with it. Returns how it ended.
     */
    public synchronized String stopAlone() throws IOException {
        for (ContainerdEvents events : List.copyOf(eventStreams)) {
            events.close();
        }
        Process p = process;
        p.destroy();
        String how;
        try {
            if (p.waitFor(options.stopTimeout.toMillis(), TimeUnit.MILLISECONDS)) {
                how = "SIGTERM, exit " + p.exitValue();
            } else {
                p.destroyForcibly();
                if (!p.waitFor(5, TimeUnit.SECONDS)) {
                    throw new IOException("containerd pid " + p.pid() + " survived SIGKILL");
                }
                how = "SIGKILL after " + options.stopTimeout.toSeconds() + " s";
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while stopping containerd pid " + p.pid(), e);
        }
        removeHook(shutdownHook);
        Files.deleteIfExists(grpcSocket);
        Files.deleteIfExists(ttrpcSocket);
        return how;
    }

    /** Starts containerd again on the same config, root, state and sockets, after {@link #stopAlone()}. */
    public synchronized void startAgain() throws IOException {
        if (process.isAlive()) {
            throw new IllegalStateException("containerd pid " + process.pid() + " still runs");
        }
        launch();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A containerd with default options: CRI disabled. */
    public static Containerd start() throws IOException {
        return builder().start();
    }

    /** Unix socket path of the gRPC API (what {@code ctr --address} and shims' {@code -address} take). */
    public String grpcAddress() {
        return grpcSocket.toString();
    }

    /** Unix socket path of the ttrpc API (events Forward), handed to shims as {@code TTRPC_ADDRESS}. */
    public String ttrpcAddress() {
        return ttrpcSocket.toString();
    }

    public Path directory() {
        return dir;
    }

    public Path root() {
        return root;
    }

    public Path state() {
        return state;
    }

    public Path logFile() {
        return logFile;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** The PATH containerd runs with (extra entries first): where it looks for shim binaries. */
    public String searchPath() {
        return path;
    }

    /** Last {@code lines} lines of containerd's log, for failure messages. */
    public String logTail(int lines) {
        return tail(logFile, lines);
    }

    /** Runs {@code ctr --address <grpc> args...} with the default timeout (30 s). */
    public CtrResult ctr(String... args) {
        return ctr(options.ctrTimeout, args);
    }

    /** {@link #ctr(Duration, String...)} with the arguments in a list. */
    public CtrResult ctr(Duration timeout, List<String> args) {
        return ctr(timeout, args.toArray(new String[0]));
    }

    /**
     * Runs {@code ctr --address <grpc> args...}; throws if it does not finish within {@code timeout}
     * (after killing it), so a hung call fails the test instead of hanging it.
     */
    public CtrResult ctr(Duration timeout, String... args) {
        Objects.requireNonNull(timeout, "timeout");
        List<String> command = ctrCommand(args);
        int n = ctrCount.incrementAndGet();
        Path out = dir.resolve("ctr").resolve(n + ".out");
        Path err = dir.resolve("ctr").resolve(n + ".err");
        try {
            ProcessBuilder pb = new ProcessBuilder(command)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile());
            pb.environment().put("PATH", path);
            Process p = pb.start();
            boolean done;
            try {
                done = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                stopProcess(p, Duration.ofSeconds(2));
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
            }
            if (!done) {
                stopProcess(p, Duration.ofSeconds(2));
                throw new IllegalStateException(String.join(" ", command) + " did not finish within "
                        + timeout.toSeconds() + " s; stdout: " + read(out) + "; stderr: " + read(err));
            }
            return new CtrResult(command, p.exitValue(), read(out), read(err));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } finally {
            deleteQuietly(out);
            deleteQuietly(err);
        }
    }

    /** {@code ctr task kill -s SIGKILL}, then up to 30 s for the task to show STOPPED; whether it did. */
    public boolean killTask(String id, Duration ctrTimeout) {
        ctr(ctrTimeout, "task", "kill", "-s", "SIGKILL", id).requireOk();
        String stopped = "(?s).*" + java.util.regex.Pattern.quote(id) + "\\s+\\d+\\s+STOPPED.*";
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            boolean done = ctr(ctrTimeout, "task", "ls").stdout().matches(stopped);
            if (done || System.nanoTime() > deadline) {
                return done;
            }
            sleep(200);
        }
    }

    /** Best effort, for a finally block: SIGKILL the task, remove it once it stopped (up to 20 s), then the container. */
    public void forceRemove(String id) {
        ctr("task", "kill", "-s", "SIGKILL", id);
        for (int i = 0; i < 100 && !ctr("task", "rm", id).ok() && ctr("task", "ls").stdout().contains(id); i++) {
            sleep(200);
        }
        ctr("container", "rm", id);
    }

    /**
     * Starts a long-lived {@code ctr events [filters...]} and returns once it is subscribed (a probe
     * event has come through). Closed by {@link #close()} if the test does not close it first.
     */
    public ContainerdEvents events(String... filters) {
        ContainerdEvents events = ContainerdEvents.start(this, filters);
        eventStreams.add(events);
        return events;
    }

    List<String> ctrCommand(String... args) {
        List<String> command = new ArrayList<>();
        command.add(options.ctrBinary);
        command.add("--address");
        command.add(grpcAddress());
        command.addAll(Arrays.asList(args));
        return command;
    }

    Path scratchDir() {
        return dir.resolve("ctr");
    }

    int nextScratchId() {
        return ctrCount.incrementAndGet();
    }

    void forget(ContainerdEvents events) {
        eventStreams.remove(events);
    }

    /**
     * Stops event streams and containerd (SIGTERM, SIGKILL after the stop timeout), ends shims that
     * this instance started and that are still running, removes their sockets, unmounts everything
     * under the directory and deletes it. Every step runs even if an earlier one failed.
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        List<Exception> problems = new ArrayList<>();
        for (ContainerdEvents events : List.copyOf(eventStreams)) {
            try {
                events.close();
            } catch (RuntimeException e) {
                problems.add(e);
            }
        }
        List<ProcessHandle> shims = new ArrayList<>();
        try {
            shims.addAll(shimProcesses());
        } catch (RuntimeException e) {
            problems.add(e);
        }
        boolean tasksRemoved = process.isAlive();
        if (tasksRemoved) {
            removeTasks();
        }
        if (!stopProcess(process, options.stopTimeout)) {
            problems.add(new IOException("containerd pid " + process.pid() + " survived SIGKILL"));
        }
        removeHook(shutdownHook);
        try {
            Set<Path> shimSockets = shimSockets();
            // Shims whose task was deleted exit on their own, a moment after the call returns.
            long deadline = System.nanoTime() + (tasksRemoved ? options.stopTimeout.toNanos() : 0);
            while (System.nanoTime() < deadline && shims.stream().anyMatch(ProcessHandle::isAlive)) {
                sleep(50);
            }
            Set<ProcessHandle> leftover = new LinkedHashSet<>(shimProcesses());
            shims.stream().filter(ProcessHandle::isAlive).forEach(leftover::add);
            for (ProcessHandle shim : leftover) {
                if (!stopTree(shim, Duration.ofSeconds(5))) {
                    problems.add(new IOException("shim pid " + shim.pid() + " or a child of it survived SIGKILL"));
                }
            }
            problems.addAll(deleteLeftoverBundles());
            for (Path socket : shimSockets) {
                Files.deleteIfExists(socket);
            }
        } catch (IOException | RuntimeException e) {
            problems.add(e);
        }
        try {
            FileTrees.unmountUnder(dir);
        } catch (IOException | RuntimeException e) {
            problems.add(e);
        }
        try {
            FileTrees.delete(dir);
        } catch (IOException | RuntimeException e) {
            problems.add(e);
        }
        if (!problems.isEmpty()) {
            IOException failure = new IOException("cleaning up containerd in " + dir + " failed: "
                    + problems.get(0).getMessage());
            problems.forEach(failure::addSuppressed);
            throw failure;
        }
    }

    /**
     * Best effort: lets containerd and the shims delete what tests left running, so runtimes clean
     * up their own state (cgroups, VMs, mounts). What survives this is killed afterwards.
     */
    private void removeTasks() {
        Duration quick = Duration.ofSeconds(10);
        try {
            for (String ns : lines(ctr(quick, "namespaces", "list", "-q"))) {
                if (ns.startsWith(ContainerdEvents.PROBE_NAMESPACE)) {
                    continue;
                }
                for (String task : lines(ctr(quick, "-n", ns, "tasks", "list", "-q"))) {
                    ctr(Duration.ofSeconds(30), "-n", ns, "tasks", "delete", "--force", task);
                }
                for (String container : lines(ctr(quick, "-n", ns, "containers", "list", "-q"))) {
                    ctr(quick, "-n", ns, "containers", "delete", container);
                }
            }
        } catch (RuntimeException e) {
            // A hung or dead containerd: the kill below still runs.
        }
    }

    private static List<String> lines(CtrResult r) {
        if (!r.ok()) {
            return List.of();
        }
        return r.stdout().lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
    }

    // ---- configuration

    String configToml() {
        StringBuilder t = new StringBuilder();
        t.append("# Written by the e2e harness for one test run.\n");
        t.append("version = 2\n");
        t.append("root = ").append(quote(root.toString())).append('\n');
        t.append("state = ").append(quote(state.toString())).append('\n');
        if (!options.cri) {
            t.append("disabled_plugins = [").append(quote(CRI_PLUGIN)).append("]\n");
        }
        t.append("\n[grpc]\n  address = ").append(quote(grpcAddress())).append('\n');
        t.append("\n[ttrpc]\n  address = ").append(quote(ttrpcAddress())).append('\n');
        t.append("\n[debug]\n  level = ").append(quote(options.logLevel)).append('\n');
        // The default /opt/containerd is shared by every instance on the machine.
        t.append("\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = ")
                .append(quote(dir.resolve("opt").toString())).append('\n');
        if (options.cri) {
            String cri = "plugins." + quote(CRI_PLUGIN);
            Path cniConf = options.cniConfDir != null ? options.cniConfDir : dir.resolve("cni");
            t.append("\n[").append(cri).append("]\n");
            t.append("  sandbox_image = ").append(quote(options.sandboxImage)).append('\n');
            // Root here lacks CAP_SYS_RESOURCE: containers may not get a lower oom_score_adj than ours.
            t.append("  restrict_oom_score_adj = true\n");
            t.append("\n[").append(cri).append(".containerd]\n");
            t.append("  snapshotter = \"overlayfs\"\n");
            t.append("  default_runtime_name = ").append(quote(options.defaultRuntime)).append('\n');
            Map<String, RuntimeHandler> runtimes = new LinkedHashMap<>();
            // No systemd on the build machines: cgroupfs.
            runtimes.put("runc", new RuntimeHandler("io.containerd.runc.v2", Map.of("SystemdCgroup", false)));
            runtimes.putAll(options.runtimes);
            for (Map.Entry<String, RuntimeHandler> r : runtimes.entrySet()) {
                String table = cri + ".containerd.runtimes." + quote(r.getKey());
                t.append("\n[").append(table).append("]\n");
                t.append("  runtime_type = ").append(quote(r.getValue().type())).append('\n');
                if (!r.getValue().options().isEmpty()) {
                    t.append("\n[").append(table).append(".options]\n");
                    for (Map.Entry<String, Object> o : r.getValue().options().entrySet()) {
                        t.append("  ").append(quote(o.getKey())).append(" = ").append(value(o.getValue())).append('\n');
                    }
                }
            }
            t.append("\n[").append(cri).append(".cni]\n");
            t.append("  bin_dir = ").append(quote(options.cniBinDir.toString())).append('\n');
            t.append("  conf_dir = ").append(quote(cniConf.toString())).append('\n');
        }
        if (!options.extraConfig.isEmpty()) {
            t.append('\n').append(options.extraConfig).append('\n');
        }
        return t.toString();
    }

    private static String value(Object v) {
        if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
            return v.toString();
        }
        if (v instanceof String s) {
            return quote(s);
        }
        throw new IllegalArgumentException("runtime option value must be a String, Boolean, Integer or Long, not "
                + (v == null ? "null" : v.getClass().getName()));
    }

    /** A TOML basic string. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    // ---- start and stop

    private void awaitSockets(Process p) throws IOException {
        long deadline = System.nanoTime() + options.startTimeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IOException("containerd exited with status " + p.exitValue() + " before listening;"
                        + " log tail:\n" + tail(logFile, 30));
            }
            if (Files.exists(grpcSocket) && Files.exists(ttrpcSocket)) {
                return;
            }
            sleep(50);
        }
        throw new IOException("containerd (pid " + p.pid() + ") did not create " + grpcSocket + " and "
                + ttrpcSocket + " within " + options.startTimeout.toSeconds() + " s; log tail:\n" + tail(logFile, 30));
    }

    /** SIGTERM, then SIGKILL after {@code grace}; true once the process is gone. */
    static boolean stopProcess(Process p, Duration grace) {
        if (!p.isAlive()) {
            return true;
        }
        p.destroy();
        try {
            if (p.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                return true;
            }
            p.destroyForcibly();
            return p.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            return !p.isAlive();
        }
    }

    /** Ends a process and everything below it (children first: a killed shim would orphan them). */
    private static boolean stopTree(ProcessHandle top, Duration grace) {
        List<ProcessHandle> all = new ArrayList<>(top.descendants().toList());
        all.add(top);
        all.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + grace.toNanos();
        while (System.nanoTime() < deadline && all.stream().anyMatch(ProcessHandle::isAlive)) {
            sleep(50);
        }
        all.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        long killDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (System.nanoTime() < killDeadline && all.stream().anyMatch(ProcessHandle::isAlive)) {
            sleep(50);
        }
        return all.stream().noneMatch(ProcessHandle::isAlive);
    }

    /**
     * Shims this instance started: containerd passes its own gRPC address as {@code -address}, and
     * that path is unique to this instance, so nobody else's shim matches.
     */
    public List<ProcessHandle> shimProcesses() {
        List<ProcessHandle> found = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Paths.get("/proc"))) {
            for (Path proc : (Iterable<Path>) procs::iterator) {
                String name = proc.getFileName().toString();
                if (!name.chars().allMatch(Character::isDigit)) {
                    continue;
                }
                List<String> argv;
                try {
                    argv = Arrays.asList(new String(Files.readAllBytes(proc.resolve("cmdline")),
                            StandardCharsets.UTF_8).split("\0"));
                } catch (IOException gone) {
                    continue;
                }
                int i = argv.indexOf("-address");
                if (i >= 0 && i + 1 < argv.size() && argv.get(i + 1).equals(grpcAddress())) {
                    ProcessHandle.of(Long.parseLong(name)).ifPresent(found::add);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list /proc", e);
        }
        return found;
    }

    /**
     * What containerd does on restart for a bundle whose shim is gone: run {@code <shim> delete} in
     * it, so the runtime removes its own state (runc state, cgroups, a VM's files).
     */
    private List<Exception> deleteLeftoverBundles() throws IOException {
        List<Exception> problems = new ArrayList<>();
        Path tasks = state.resolve("io.containerd.runtime.v2.task");
        if (!Files.isDirectory(tasks)) {
            return problems;
        }
        List<Path> bundles = new ArrayList<>();
        try (Stream<Path> namespaces = Files.list(tasks)) {
            for (Path ns : namespaces.filter(Files::isDirectory).toList()) {
                try (Stream<Path> ids = Files.list(ns)) {
                    bundles.addAll(ids.filter(Files::isDirectory).toList());
                }
            }
        }
        for (Path bundle : bundles) {
            Path runtimeFile = bundle.resolve("shim-binary-path");
            if (!Files.exists(runtimeFile)) {
                continue;
            }
            String runtime = Files.readString(runtimeFile).strip();
            String binary;
            try {
                binary = findExecutable(shimBinaryName(runtime), options.extraPath);
            } catch (IOException e) {
                problems.add(new IOException("cannot clean up bundle " + bundle + ": " + e.getMessage()));
                continue;
            }
            String ns = bundle.getParent().getFileName().toString();
            String id = bundle.getFileName().toString();
            ProcessBuilder pb = new ProcessBuilder(binary, "-namespace", ns, "-address", grpcAddress(),
                    "-publish-binary", findExecutable(options.containerdBinary, options.extraPath),
                    "-id", id, "-bundle", bundle.toString(), "delete")
                    .directory(bundle.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("PATH", path);
            pb.environment().put("NAMESPACE", ns);
            pb.environment().put("GRPC_ADDRESS", grpcAddress());
            pb.environment().put("TTRPC_ADDRESS", ttrpcAddress());
            Process p = pb.start();
            try {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    stopProcess(p, Duration.ofSeconds(2));
                    problems.add(new IOException(binary + " delete of " + id + " did not finish within 30 s"));
                }
            } catch (InterruptedException e) {
                stopProcess(p, Duration.ofSeconds(2));
                Thread.currentThread().interrupt();
                problems.add(e);
            }
            FileTrees.unmountUnder(bundle.resolve("rootfs"));
        }
        return problems;
    }

    /** containerd's runtime-name-to-binary rule: io.containerd.runc.v2 -> containerd-shim-runc-v2; paths stay. */
    static String shimBinaryName(String runtime) {
        if (runtime.contains("/")) {
            return runtime;
        }
        String[] parts = runtime.split("\\.");
        if (parts.length < 2) {
            throw new IllegalArgumentException("not a runtime name: " + runtime);
        }
        return "containerd-shim-" + parts[parts.length - 2] + "-" + parts[parts.length - 1];
    }

    /** Sockets of this instance's shims: sha256(address/namespace/id) for every task dir in state. */
    private Set<Path> shimSockets() throws IOException {
        Set<Path> sockets = new LinkedHashSet<>();
        Path tasks = state.resolve("io.containerd.runtime.v2.task");
        if (!Files.isDirectory(tasks)) {
            return sockets;
        }
        try (Stream<Path> namespaces = Files.list(tasks)) {
            for (Path ns : namespaces.filter(Files::isDirectory).toList()) {
                // nemu's: one daemon per namespace
                sockets.add(io.nemu.shim.cli.ShimSocket.daemonPath(grpcAddress(), ns.getFileName().toString()));
                try (Stream<Path> ids = Files.list(ns)) {
                    for (Path id : ids.toList()) {
                        sockets.add(SHIM_SOCKET_DIR.resolve(shimSocketName(
                                grpcAddress(), ns.getFileName().toString(), id.getFileName().toString())));
                    }
                }
            }
        }
        return sockets;
    }

    /** The file name containerd 1.6's shim.SocketAddress gives (the grouping id is the sandbox id under CRI). */
    public static String shimSocketName(String grpcAddress, String namespace, String id) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(
                    (grpcAddress + "/" + namespace + "/" + id).getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- files

    static String tail(Path file, int lines) {
        try {
            List<String> all = Files.readAllLines(file, StandardCharsets.UTF_8);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // Removed with the directory at close.
        }
    }

    private static void removeHook(Thread hook) {
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // The hook is running already.
        }
    }

    public static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static String searchPath(List<Path> extra) {
        List<String> entries = new ArrayList<>();
        extra.forEach(p -> entries.add(p.toAbsolutePath().toString()));
        String inherited = Optional.ofNullable(System.getenv("PATH")).orElse("");
        Set<String> seen = new LinkedHashSet<>(entries);
        for (String e : (inherited + ":" + DEFAULT_PATH).split(":")) {
            if (!e.isEmpty() && seen.add(e)) {
                entries.add(e);
            }
        }
        return String.join(":", seen);
    }

    private static String findExecutable(String name, List<Path> extraPath) throws IOException {
        if (name.contains("/")) {
            if (!Files.isExecutable(Path.of(name))) {
                throw new IOException(name + " is not an executable file");
            }
            return name;
        }
        for (String dir : searchPath(extraPath).split(":")) {
            Path candidate = Path.of(dir, name);
            if (Files.isExecutable(candidate)) {
                return candidate.toString();
            }
        }
        throw new IOException(name + " not found on PATH; install it with scripts/install-deps.sh");
    }

    /** Exit code and output of one {@code ctr} run. */
    public record CtrResult(List<String> command, int exitCode, String stdout, String stderr) {
        public boolean ok() {
            return exitCode == 0;
        }

        /** This result, or an exception naming the command and its output if it failed. */
        public CtrResult requireOk() {
            if (!ok()) {
                throw new IllegalStateException(String.join(" ", command) + " exited with " + exitCode
                        + "; stdout: " + stdout.strip() + "; stderr: " + stderr.strip());
            }
            return this;
        }
    }

    /** A CRI runtime handler: runtime_type and its {@code options} table. */
    public record RuntimeHandler(String type, Map<String, Object> options) {
        public RuntimeHandler {
            Objects.requireNonNull(type, "runtime type");
            options = Map.copyOf(options);
            options.values().forEach(Containerd::value);
        }
    }

    public static final class Builder {
        private boolean cri;
        private String sandboxImage = "registry.k8s.io/pause:3.6";
        private String defaultRuntime = "runc";
        private final Map<String, RuntimeHandler> runtimes = new LinkedHashMap<>();
        private Path cniBinDir = Paths.get("/usr/lib/cni");
        private Path cniConfDir;
        private final List<Path> extraPath = new ArrayList<>();
        private final Map<String, String> env = new LinkedHashMap<>();
        private String extraConfig = "";
        private String logLevel = "info";
        private String containerdBinary = "containerd";
        private String ctrBinary = "ctr";
        private Path tempParent = Paths.get(System.getProperty("java.io.tmpdir"));
        private Duration startTimeout = Duration.ofSeconds(20);
        private Duration stopTimeout = Duration.ofSeconds(10);
        private Duration ctrTimeout = Duration.ofSeconds(30);

        private Builder() {
        }

        /** Enables the CRI plugin (off by default: it is slower to start and needs CNI). */
        public Builder cri(boolean enabled) {
            this.cri = enabled;
            return this;
        }

        /** The pause image CRI uses for sandboxes; must be imported into k8s.io beforehand. */
        public Builder sandboxImage(String image) {
            this.sandboxImage = requireText(image, "sandbox image");
            return this;
        }

        public Builder defaultRuntime(String name) {
            this.defaultRuntime = requireText(name, "default runtime");
            return this;
        }

        /** Adds a CRI runtime handler, e.g. {@code runtime("nemu", "io.containerd.nemu.v2", Map.of("ConfigPath", p))}. */
        public Builder runtime(String handler, String runtimeType, Map<String, Object> options) {
            runtimes.put(requireText(handler, "runtime handler"), new RuntimeHandler(requireText(runtimeType, "runtime type"),
                    options));
            return this;
        }

        public Builder cniBinDir(Path dir) {
            this.cniBinDir = Objects.requireNonNull(dir, "CNI bin dir");
            return this;
        }

        /** Default: an empty directory of the instance (CRI then reports no pod network). */
        public Builder cniConfDir(Path dir) {
            this.cniConfDir = Objects.requireNonNull(dir, "CNI conf dir");
            return this;
        }

        /** Put first on containerd's PATH, e.g. the folder holding containerd-shim-nemu-v2. */
        public Builder extraPath(Path dir) {
            this.extraPath.add(Objects.requireNonNull(dir, "PATH entry"));
            return this;
        }

        /**
         * Sets a variable in containerd's environment, which the shims it starts inherit (e.g. the shim's
         * test hook {@code NEMU_TEST_AGENT_SOCKET}).
         */
        public Builder env(String name, String value) {
            env.put(requireText(name, "variable name"), Objects.requireNonNull(value, "value of " + name));
            return this;
        }

        /** Raw TOML appended to the generated config (whole tables only). */
        public Builder extraConfig(String toml) {
            this.extraConfig = Objects.requireNonNull(toml, "extra config");
            return this;
        }

        public Builder logLevel(String level) {
            this.logLevel = requireText(level, "log level");
            return this;
        }

        public Builder containerdBinary(String binary) {
            this.containerdBinary = requireText(binary, "containerd binary");
            return this;
        }

        public Builder ctrBinary(String binary) {
            this.ctrBinary = requireText(binary, "ctr binary");
            return this;
        }

        public Builder tempParent(Path dir) {
            this.tempParent = Objects.requireNonNull(dir, "temp parent");
            return this;
        }

        public Builder startTimeout(Duration timeout) {
            this.startTimeout = positive(timeout, "start timeout");
            return this;
        }

        public Builder stopTimeout(Duration timeout) {
            this.stopTimeout = positive(timeout, "stop timeout");
            return this;
        }

        public Builder ctrTimeout(Duration timeout) {
            this.ctrTimeout = positive(timeout, "ctr timeout");
            return this;
        }

        public Containerd start() throws IOException {
            if (cri && !defaultRuntime.equals("runc") && !runtimes.containsKey(defaultRuntime)) {
                throw new IllegalArgumentException("default runtime " + defaultRuntime + " is not configured;"
                        + " add it with runtime(...)");
            }
            return new Containerd(this);
        }

        private static String requireText(String s, String what) {
            if (s == null || s.isBlank()) {
                throw new IllegalArgumentException(what + " must not be empty");
            }
            return s;
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive, was " + d);
            }
            return d;
        }
    }
}
