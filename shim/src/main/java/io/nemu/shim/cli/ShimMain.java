package io.nemu.shim.cli;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Timestamp;
import io.nemu.proto.containerd.task.v2.DeleteResponse;
import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.HostFiles;
import io.nemu.shim.config.RuntimeOptions;
import io.nemu.shim.daemon.DaemonLock;
import io.nemu.shim.daemon.PodLog;
import io.nemu.shim.daemon.ShimDaemon;
import io.nemu.shim.daemon.StateCleaner;
import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.oci.Bundle;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.vmm.PrivateFiles;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * {@code containerd-shim-nemu-v2}: the binary containerd runs for runtime {@code io.containerd.nemu.v2}.
 * {@code start} prints the address of the sandbox's daemon (starting it if needed), {@code delete}
 * cleans up after a dead daemon, no command (internal, {@code daemon}) is the daemon itself.
 */
public final class ShimMain {
    public static final String NAME = "containerd-shim-nemu-v2";
    public static final String RUNTIME = "io.containerd.nemu.v2";
    public static final String VERSION = "0.1.0";
    static final long READY_TIMEOUT_MS = 20_000;
    /** The daemon's {@code -id} (and its log lines' sandbox when no pod is at work): it serves many. */
    static final String DAEMON_ID = "daemon";

    private ShimMain() {
    }

    public static void main(String[] argv) {
        System.exit(run(argv));
    }

    static int run(String[] argv) {
        ShimArgs args;
        try {
            args = ShimArgs.parse(argv);
        } catch (ShimArgs.UsageException e) {
            return fail(e.getMessage());
        }
        if (args.version()) {
            System.out.println(NAME + ":\n  Version: " + VERSION + "\n  Revision: nemu\n  Go version: none (Java "
                    + Runtime.version() + ")");
            return 0;
        }
        if (args.info()) {
            byte[] options = new byte[0];
            if (System.console() == null) { // containerd pipes the runtime options in; a terminal does not
                try {
                    options = System.in.readAllBytes();
                } catch (IOException e) {
                    options = new byte[0];
                }
            }
            writeStdout(runtimeInfo(options));
            return 0;
        }
        if (args.command() == null) {
            return fail("no command: expected start or delete");
        }
        try {
            args.requireTaskFlags();
        } catch (ShimArgs.UsageException e) {
            return fail(e.getMessage());
        }
        System.setProperty("nemu.sandbox", args.id());
        if (args.debug()) {
            System.setProperty("nemu.log.level", "DEBUG");
        }
        try {
            return switch (args.command()) {
                case "start" -> start(args);
                case "delete" -> delete(args);
                case "daemon" -> daemon(args);
                default -> fail("unknown command '" + args.command() + "': expected start or delete");
            };
        } catch (ShimFailure e) {
            return fail(e.getMessage());
        }
    }

    /** A failure reported as one line on stderr, exit 1. */
    static final class ShimFailure extends Exception {
        ShimFailure(String message) {
            super(message);
        }
    }

    private static int fail(String message) {
        System.err.println(NAME + ": " + message.replace('\n', ' '));
        System.err.flush();
        return 1;
    }

    // ---- start

    static int start(ShimArgs args) throws ShimFailure {
        byte[] stdin;
        try {
            stdin = System.in.readAllBytes();
        } catch (IOException e) {
            stdin = new byte[0];
        }
        Path bundleDir = args.bundleDir();
        Bundle bundle;
        try {
            bundle = Bundle.read(bundleDir);
        } catch (IOException e) {
            throw new ShimFailure(e.getMessage());
        }
        Path socket = ShimSocket.daemonPath(args.address(), args.namespace());
        Optional<String> pod = bundle.joinsSandbox();
        if (pod.isPresent()) {
            if (!answers(socket)) {
                throw new ShimFailure("sandbox " + pod.get() + " of container " + args.id()
                        + " has no running shim (no answer on " + socket + ")");
            }
            writeAddressFile(bundleDir, socket);
            return printAddress(socket);
        }
        Path config;
        try {
            String configPath = RuntimeOptions.configPathFromStdin(stdin, args.id());
            config = ConfigLoader.locate(configPath, System.getenv());
            // Checked now, with the files it names, so that a bad file shows in ctr's error instead of a dead daemon.
            HostFiles.require(new ConfigLoader(w -> { }).load(config));
        } catch (ConfigException e) {
            throw new ShimFailure(e.getMessage());
        }
        writeAddressFile(bundleDir, socket); // first: a daemon must not run for a start that failed
        // The namespace's daemon serves this pod too; under its lock, so that it does not exit meanwhile.
        try (DaemonLock lock = DaemonLock.take(socket)) {
            DaemonLock.reserve(SandboxPaths.of(args.id()), socket);
            if (!answers(socket)) {
                spawnDaemon(args, bundleDir, socket, config);
            }
        } catch (IOException e) {
            throw new ShimFailure("cannot reserve sandbox " + args.id() + " with the shim daemon on " + socket + ": "
                    + e.getMessage());
        }
        return printAddress(socket);
    }

    private static void writeAddressFile(Path bundleDir, Path socket) throws ShimFailure {
        try {
            ShimSocket.writeAddressFile(bundleDir, socket);
        } catch (IOException e) {
            throw new ShimFailure("cannot write the shim's address into " + bundleDir + ": " + e.getMessage());
        }
    }

    private static int printAddress(Path socket) {
        System.out.print(ShimSocket.address(socket));
        System.out.flush();
        return 0;
    }

    static boolean answers(Path socket) {
        if (!Files.exists(socket)) {
            return false;
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void spawnDaemon(ShimArgs args, Path bundleDir, Path socket, Path config) throws ShimFailure {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            cmd.add("/usr/bin/setsid"); // its own session: containerd's signals to the start command miss it
        }
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmOptions());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ShimMain.class.getName());
        // Not this pod's id nor bundle: the daemon outlives the pod it was started for.
        cmd.addAll(List.of("-namespace", args.namespace(), "-address", args.address(), "-id", DAEMON_ID,
                "-socket", socket.toString(), "-config", config.toString()));
        if (args.publishBinary() != null) {
            cmd.addAll(List.of("-publish-binary", args.publishBinary()));
        }
        if (args.debug()) {
            cmd.add("-debug");
        }
        cmd.add("daemon");
        // The daemon outlives this pod's bundle: its own lines go to a file of its own, each pod's lines to that
        // pod's log fifo (daemon/PodLog).
        Path log = DaemonLock.logFile(socket);
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(log.getParent().toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.PIPE);
        try {
            PrivateFiles.file(log);
        } catch (IOException e) {
            throw new ShimFailure("cannot create " + log + ": " + e.getMessage());
        }
        pb.redirectError(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new ShimFailure("cannot start the shim daemon: " + e.getMessage());
        }
        CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
                String l = r.readLine();
                return l == null ? "" : l;
            } catch (IOException e) {
                return "";
            }
        });
        String got;
        try {
            got = line.get(READY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            p.destroyForcibly();
            throw new ShimFailure("the shim daemon did not get ready within " + READY_TIMEOUT_MS / 1000 + " s");
        }
        if (got.equals(ShimDaemon.READY)) {
            return;
        }
        p.destroyForcibly();
        if (got.startsWith(ShimDaemon.ERROR)) {
            throw new ShimFailure(got.substring(ShimDaemon.ERROR.length()));
        }
        String code = p.isAlive() ? "" : " (exit code " + exitCode(p) + ")";
        throw new ShimFailure("the shim daemon exited before it was ready" + code);
    }

    private static int exitCode(Process p) {
        try {
            p.waitFor(1, TimeUnit.SECONDS);
            return p.exitValue();
        } catch (Exception e) {
            return -1;
        }
    }

    /** The daemon's heap bound unless NEMU_DAEMON_MAX_HEAP says otherwise: it holds every pod of a namespace. */
    static final String DAEMON_MAX_HEAP = "256m";

    /**
     * JVM flags for the daemon: the launcher's (NEMU_JAVA_OPTS), else this JVM's own; then the daemon's heap
     * bound (the commands' is sized for one short call; the heap still grows only as the pods need it), and an
     * exit on running out of heap: a daemon that cannot allocate would hang every pod, a dead one is cleaned up
     * by containerd's delete of each.
     */
    static List<String> jvmOptions() {
        String env = System.getenv("NEMU_JAVA_OPTS");
        List<String> opts = new ArrayList<>();
        if (env != null && !env.isBlank()) {
            // The daemon loads other classes than the commands: it has its own CDS archive.
            Arrays.stream(env.strip().split("\\s+")).map(ShimMain::daemonArchive).forEach(opts::add);
        } else {
            java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                    .filter(a -> !a.startsWith("-agentlib") && !a.startsWith("-javaagent")).forEach(opts::add);
        }
        String heap = System.getenv("NEMU_DAEMON_MAX_HEAP");
        opts.removeIf(o -> o.startsWith("-Xmx"));
        opts.add("-Xmx" + (heap == null || heap.isBlank() ? DAEMON_MAX_HEAP : heap.strip()));
        opts.add("-XX:+ExitOnOutOfMemoryError");
        return opts;
    }

    static String daemonArchive(String option) {
        String prefix = "-XX:SharedArchiveFile=";
        if (option.startsWith(prefix) && option.endsWith("/nemu.jsa")) {
            Path daemon = Path.of(option.substring(prefix.length())).resolveSibling("nemu-daemon.jsa");
            if (Files.isReadable(daemon)) {
                return prefix + daemon;
            }
        }
        return option;
    }

    // ---- delete

    static int delete(ShimArgs args) {
        Path bundleDir = args.bundleDir();
        String sandboxId = args.id();
        try {
            sandboxId = Bundle.read(bundleDir).sandboxIdFor(args.id());
        } catch (IOException e) {
            // No bundle left: treat the id as its own sandbox.
        }
        SandboxPaths paths = SandboxPaths.of(sandboxId);
        List<String> done = new ArrayList<>();
        if (sandboxId.equals(args.id())) {
            done.addAll(StateCleaner.cleanSandbox(paths));
            done.addAll(retireDeadDaemon(ShimSocket.daemonPath(args.address(), args.namespace())));
        } else {
            Path rootfs = paths.containerRootfs(args.id());
            try {
                done.addAll(SafeTree.host().unmountAndRemove(rootfs.getParent()));
            } catch (IOException e) {
                done.add("container folder: " + e.getMessage());
            }
        }
        try {
            done.addAll(SafeTree.host().unmountAll(bundleDir.resolve("rootfs")));
        } catch (IOException e) {
            done.add("bundle rootfs: " + e.getMessage());
        }
        for (String d : done) {
            System.err.println(NAME + " delete " + args.id() + ": " + d);
        }
        Instant now = Instant.now();
        DeleteResponse resp = DeleteResponse.newBuilder().setExitStatus(128 + 9)
                .setExitedAt(Timestamp.newBuilder().setSeconds(now.getEpochSecond()).setNanos(now.getNano())).build();
        writeStdout(resp.toByteArray());
        return 0;
    }

    /**
     * The namespace's daemon may serve other pods: its socket, lock and log go only when nothing answers on the
     * socket (a daemon killed by a signal). Its log's last lines are kept in delete's, which containerd logs.
     * Under the daemon's lock, but waiting for it at most a second: containerd gives delete 5 s, and a start
     * holding the lock is about to make a new daemon, which takes the files over.
     */
    static List<String> retireDeadDaemon(Path socket) {
        List<String> done = new ArrayList<>();
        if (answers(socket)) {
            return done;
        }
        try {
            Optional<DaemonLock> lock = DaemonLock.take(socket, java.time.Duration.ofSeconds(1));
            if (lock.isEmpty()) {
                return done;
            }
            try (DaemonLock l = lock.get()) {
                if (!answers(socket)) {
                    logTail(DaemonLock.logFile(socket), 20).forEach(line -> done.add("dead daemon's log: " + line));
                    l.retire(socket);
                    done.add("removed the dead daemon's socket " + socket + ", lock and log");
                }
            }
        } catch (IOException | RuntimeException e) {
            done.add("daemon files of " + socket + ": " + e.getMessage());
        }
        return done;
    }

    /** The last {@code n} lines of a file (of its last 64 KiB), none when it cannot be read. */
    static List<String> logTail(Path file, int n) {
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file.toFile(), "r")) {
            long from = Math.max(0, f.length() - 65536);
            byte[] b = new byte[(int) (f.length() - from)];
            f.seek(from);
            f.readFully(b);
            List<String> lines = new String(b, StandardCharsets.UTF_8).lines().toList();
            return lines.subList(Math.max(0, lines.size() - n), lines.size());
        } catch (IOException e) {
            return List.of();
        }
    }

    private static void writeStdout(byte[] bytes) {
        try {
            FileOutputStream out = new FileOutputStream(FileDescriptor.out);
            out.write(bytes);
            out.flush();
        } catch (IOException e) {
            System.err.println(NAME + ": cannot write to stdout: " + e.getMessage());
        }
    }

    /**
     * containerd's RuntimeInfo{name=1, version=2{version=1, revision=2}, options=3} for {@code -info}; the
     * options are echoed when stdin held a valid Any.
     */
    static byte[] runtimeInfo(byte[] options) {
        try {
            ByteArrayOutputStream version = new ByteArrayOutputStream();
            CodedOutputStream v = CodedOutputStream.newInstance(version);
            v.writeString(1, VERSION);
            v.writeString(2, "nemu");
            v.flush();
            ByteArrayOutputStream all = new ByteArrayOutputStream();
            CodedOutputStream o = CodedOutputStream.newInstance(all);
            o.writeString(1, RUNTIME);
            o.writeByteArray(2, version.toByteArray());
            if (options.length > 0) {
                try {
                    o.writeMessage(3, com.google.protobuf.Any.parseFrom(options));
                } catch (com.google.protobuf.InvalidProtocolBufferException notAny) {
                    // not options: leave them out
                }
            }
            o.flush();
            return all.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- daemon

    private static int daemon(ShimArgs args) throws ShimFailure {
        if (args.socket() == null) {
            throw new ShimFailure("daemon needs -socket");
        }
        PrintStream ready = System.out;
        // From here on nothing else may reach the start command's pipe; each pod's lines go to its own log fifo.
        PrintStream err = PodLog.routingStderr(System.err);
        System.setErr(err);
        System.setOut(err);
        return ShimDaemon.run(new ShimDaemon.Settings(args.id(), args.namespace(), args.address(),
                Path.of(args.socket()), args.configPath()), ready);
    }
}
