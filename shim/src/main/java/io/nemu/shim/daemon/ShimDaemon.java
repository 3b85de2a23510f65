package io.nemu.shim.daemon;

import com.google.protobuf.Any;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.nemu.shim.config.ConfigException;
import io.nemu.shim.config.ConfigLoader;
import io.nemu.shim.config.RuntimeConfig;
import io.nemu.shim.config.RuntimeOptions;
import io.nemu.shim.errdefs.TaskException;
import io.nemu.shim.events.EventForwarder;
import io.nemu.shim.mount.SafeTree;
import io.nemu.shim.sandbox.PidFile;
import io.nemu.shim.sandbox.Sandbox;
import io.nemu.shim.sandbox.SandboxPaths;
import io.nemu.shim.sandbox.VmSandbox;
import io.nemu.shim.task.TaskService;
import io.nemu.ttrpc.TtrpcServer;
import io.nemu.vmm.PrivateFiles;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The long-lived shim of the pods of one containerd namespace ({@link PodRouter}: one TaskService per pod):
 * serves the task API on the namespace's shim socket until no pod is left. Started by {@code start} with its stdout a pipe: it prints {@code READY} once it listens
 * (or {@code ERROR <reason>}), then leaves stdout alone.
 */
public final class ShimDaemon {
    public static final String READY = "READY";
    public static final String ERROR = "ERROR ";
    /** Test hook: dial an agent on this host socket instead of the guest's (see {@link #testAgentSocket}). */
    public static final String ENV_TEST_AGENT_SOCKET = "NEMU_TEST_AGENT_SOCKET";
    private static final Logger log = LoggerFactory.getLogger(ShimDaemon.class);

    /**
     * What the daemon is started with.
     *
     * @param id         the sandbox id the daemon was started for (its first pod)
     * @param namespace  containerd's namespace of the sandbox's tasks
     * @param address    containerd's address (its ttrpc events socket is beside it unless TTRPC_ADDRESS)
     * @param socket     where the daemon serves the task API
     * @param configPath the configuration.toml {@code start} located (runtime options of a create win)
     */
    public record Settings(String id, String namespace, String address, Path socket, String configPath) {
    }

    private ShimDaemon() {
    }

    /** Renames a v2 Task service to containerd.task.v3.Task: same messages, same wire. */
    static ServerServiceDefinition asV3(ServerServiceDefinition v2) {
        ServerServiceDefinition.Builder b = ServerServiceDefinition.builder("containerd.task.v3.Task");
        for (ServerMethodDefinition<?, ?> m : v2.getMethods()) {
            b.addMethod(rename(m));
        }
        return b.build();
    }

    private static <Q, R> ServerMethodDefinition<Q, R> rename(ServerMethodDefinition<Q, R> m) {
        String bare = m.getMethodDescriptor().getBareMethodName();
        return ServerMethodDefinition.create(m.getMethodDescriptor().toBuilder()
                .setFullMethodName("containerd.task.v3.Task/" + bare).build(), m.getServerCallHandler());
    }

    /**
     * The sandbox's factory: the configuration is resolved here, once, when the sandbox's task is created
     * (a ConfigPath in its runtime options, else {@code configPath}), its debug switches applied to the
     * daemon's logs, and handed to the VM sandbox.
     */
    static Sandbox.Factory vmSandboxes(SandboxPaths paths, String configPath, Path hostAgent) {
        return (sandboxId, bundle, options, listener) -> {
            RuntimeConfig cfg = resolveConfig(options, configPath);
            DebugLogs.apply(cfg);
            return VmSandbox.boot(sandboxId, paths, cfg, hostAgent, bundle, listener);
        };
    }

    static RuntimeConfig resolveConfig(Any options, String configPath) {
        try {
            String fromOptions = RuntimeOptions.configPath(options);
            Path file = ConfigLoader.locate(fromOptions != null ? fromOptions : configPath, System.getenv());
            return new ConfigLoader(w -> log.warn("{}", w)).load(file);
        } catch (ConfigException e) {
            throw new TaskException(Status.Code.INVALID_ARGUMENT, e.getMessage(), e);
        }
    }

    /**
     * The test hook {@value #ENV_TEST_AGENT_SOCKET}: the unix socket of an agent on this host, dialed instead
     * of the guest's (the e2e harness's stand-in agent); null when unset. An environment variable, so that no
     * configuration.toml can turn it on: containerd passes its own environment to the shims it starts.
     */
    static Path testAgentSocket(Map<String, String> env) {
        String s = env.get(ENV_TEST_AGENT_SOCKET);
        if (s == null || s.isBlank()) {
            return null;
        }
        Path p = Path.of(s);
        if (!p.isAbsolute()) {
            throw new IllegalArgumentException(ENV_TEST_AGENT_SOCKET + " must be an absolute path, got '" + s + "'");
        }
        return p;
    }

    public static int run(Settings args, PrintStream readyOut) {
        Path socket = args.socket();
        String ttrpc = System.getenv("TTRPC_ADDRESS");
        if (ttrpc == null || ttrpc.isBlank()) {
            ttrpc = args.address() + ".ttrpc";
        }
        Path hostAgent;
        try {
            hostAgent = testAgentSocket(System.getenv());
        } catch (IllegalArgumentException e) {
            readyOut.println(ERROR + e.getMessage());
            readyOut.flush();
            return 1;
        }
        if (hostAgent != null) {
            log.warn("{} is set: the agent is dialed on the host socket {}, not in the guest (a test hook)",
                    ENV_TEST_AGENT_SOCKET, hostAgent);
        }
        EventForwarder events = new EventForwarder(Path.of(ttrpc.replaceFirst("^unix://", "")), args.namespace(),
                Duration.ofSeconds(30), PodLog::in);
        Semaphore emptied = new Semaphore(0);
        // One TaskService per pod. Its state goes before Shutdown's reply: containerd runs `delete` as soon as the
        // connection closes, and that must find nothing left to clean.
        PodRouter pods = new PodRouter((sandboxId, left) -> {
            SandboxPaths paths = SandboxPaths.of(sandboxId);
            recordDaemon(paths);
            return new TaskService(sandboxId, vmSandboxes(paths, args.configPath(), hostAgent), events.of(sandboxId),
                    () -> {
                        removeState(sandboxId, paths);
                        left.run();
                    });
        }, id -> removeState(id, SandboxPaths.of(id)), emptied::release);
        // The operator's volume stats ride on the same root-only socket (VolumeService says why).
        TtrpcServer server = TtrpcServer.builder().addService(pods).addService(asV3(pods.bindService()))
                .addService(new VolumeService(pods)).build();
        try {
            Files.createDirectories(socket.getParent());
            server.bind(socket);
        } catch (IOException | RuntimeException e) {
            readyOut.println(ERROR + e.getMessage());
            readyOut.flush();
            server.close();
            events.close(Duration.ZERO);
            return 1;
        }
        log.info("shim daemon pid {} of namespace {} serving on {}", ProcessHandle.current().pid(), args.namespace(),
                socket);
        readyOut.println(READY);
        readyOut.flush();
        readyOut.close();
        // Start-up garbage is most of the heap now; collect it so that the heap shrinks.
        System.gc();
        AtomicBoolean retired = new AtomicBoolean();
        // SIGTERM: the files go first (a start from now on makes a new daemon), then every pod's VM; containerd
        // then runs delete for each pod, which finds its VM gone.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (!retired.getAndSet(true)) {
                retireOnSignal(socket);
            }
            pods.closeAll();
        }, "sandbox-cleanup"));
        awaitNoPods(pods, socket, emptied, retired);
        // Let the last Shutdown's reply go out before the server closes.
        sleep(50);
        events.close(Duration.ofSeconds(10));
        server.close();
        pods.closeAll();
        log.info("shim daemon exits: no pod left");
        return 0;
    }

    /**
     * Returns once the daemon holds no pod and no {@code start} reserved one for it, with its socket removed
     * under the {@link DaemonLock}: a later {@code start} then starts a new daemon.
     */
    private static void awaitNoPods(PodRouter pods, Path socket, Semaphore emptied, AtomicBoolean retired) {
        while (true) {
            try {
                emptied.tryAcquire(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            if (!pods.pods().isEmpty()) {
                continue;
            }
            sleep(50); // the Shutdown that emptied the daemon is still replying
            try (DaemonLock lock = DaemonLock.take(socket)) {
                if (pods.pods().isEmpty()
                        && !DaemonLock.reserved(SandboxPaths.defaultRoot(), socket, Set.of(), Instant.now())
                        && !retired.getAndSet(true)) {
                    lock.retire(socket);
                    return;
                }
            } catch (IOException e) {
                log.warn("daemon lock of {}: {}", socket, e.toString());
            }
        }
    }

    /**
     * The files of a daemon ended by a signal, if its lock comes within a second (a start holding it that long
     * leaves them to the next daemon, which takes them over).
     */
    private static void retireOnSignal(Path socket) {
        try {
            Optional<DaemonLock> lock = DaemonLock.take(socket, Duration.ofSeconds(1));
            if (lock.isPresent()) {
                try (DaemonLock l = lock.get()) {
                    l.retire(socket);
                }
            }
        } catch (IOException e) {
            log.warn("daemon files of {}: {}", socket, e.toString());
        }
    }

    /**
     * {@code daemon.pid} in the pod's state: which process serves it (for tools and tests). Not {@code shim.pid}:
     * a pod's {@code delete} kills what its state records, and this daemon serves other pods too.
     */
    private static void recordDaemon(SandboxPaths paths) {
        try {
            PrivateFiles.directories(paths.state());
            PidFile.of(ProcessHandle.current().pid()).write(paths.pidFile(SandboxPaths.DAEMON));
        } catch (IOException e) {
            log.warn("cannot record the daemon's pid in {}: {}", paths.state(), e.toString());
        }
    }

    /** The state folder, unless something is still mounted under it (then a later delete retries). */
    private static void removeState(String id, SandboxPaths paths) {
        try {
            SafeTree.host().remove(paths.state());
        } catch (IOException e) {
            log.warn("cleaning state of {}: {}", id, e.toString());
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
