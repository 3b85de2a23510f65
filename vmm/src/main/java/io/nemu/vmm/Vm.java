package io.nemu.vmm;

import io.nemu.vmm.channel.AgentChannel;
import io.nemu.vmm.channel.AgentChannels;
import io.nemu.vmm.process.ProcessTools;
import io.nemu.vmm.qmp.QmpClient;
import io.nemu.vmm.template.StateTransfer;
import io.nemu.vmm.template.TemplateRam;
import io.nemu.vmm.template.Templating;
import io.nemu.vmm.virtiofs.Virtiofsd;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One sandbox VM: virtiofsd (when a folder is shared), QEMU, its QMP connection and the agent channel.
 * {@link #start} returns once QEMU runs and QMP is connected; {@link #stop} powers the guest off
 * (ACPI), then quits QEMU, then kills it. Whatever way it ends, nothing of it is left running and its
 * sockets are removed; logs stay in the run folder. Which process failed first, and how that is worded,
 * is {@link FailureAttribution}'s business.
 */
public final class Vm implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Vm.class);
    private static final Duration QUIT_WAIT = Duration.ofSeconds(3);
    private static final Duration VIRTIOFSD_GRACE = Duration.ofSeconds(2);
    private static final Duration POWERDOWN_REPEAT = Duration.ofSeconds(1);
    /** Where a template's state is streamed out, or a clone's in. */
    public static final String MIGRATION_SOCKET = "migrate.sock";

    /** Hears about the processes a VM starts (e.g. to record pids for cleanup after a crash). */
    public interface Observer {
        default void virtiofsdStarted(long pid) {
        }

        default void qemuStarted(long pid) {
        }
    }

    /**
     * Lifecycle of a VM: Created -> Starting -> Running -> Stopping -> Stopped. A failed start goes from
     * Starting through Stopping to Stopped; a VM never started goes straight to Stopped; QEMU exiting on
     * its own (guest power-off, crash) moves a running or stopping VM to Stopped.
     */
    public sealed interface State permits State.Created, State.Starting, State.Running, State.Stopping,
            State.Stopped {
        /** Whether a VM in this state may move to {@code next}. */
        boolean mayBecome(State next);

        record Created() implements State {
            public boolean mayBecome(State next) {
                return next instanceof Starting || next instanceof Stopped;
            }
        }

        record Starting() implements State {
            public boolean mayBecome(State next) {
                return next instanceof Running || next instanceof Stopping || next instanceof Stopped;
            }
        }

        record Running(long pid) implements State {
            public boolean mayBecome(State next) {
                return next instanceof Stopping || next instanceof Stopped;
            }
        }

        /** Being ended on purpose (stop, or a failed start): virtiofsd's exit is then no failure. */
        record Stopping() implements State {
            public boolean mayBecome(State next) {
                return next instanceof Stopped;
            }
        }

        /** @param exitCode QEMU's exit code, or null if QEMU never ran */
        record Stopped(Integer exitCode) implements State {
            public boolean mayBecome(State next) {
                return false;
            }
        }
    }

    private final VmConfig config;
    private final RunPaths paths;
    private final Observer observer;
    private final CompletableFuture<Integer> exit = new CompletableFuture<>();
    private volatile State state = new State.Created();
    private volatile Process qemu;
    /** Whether this clone's template RAM was compacted after QEMU ended (once). */
    private boolean templateRamReleased;
    private volatile Virtiofsd virtiofsd;
    private volatile QmpClient qmp;
    private volatile AgentChannel channel;
    private volatile Accelerator accelerator;
    private final FailureAttribution failures;

    public Vm(VmConfig config) {
        this(config, new Observer() {
        });
    }

    public Vm(VmConfig config, Observer observer) {
        this.config = config;
        this.paths = RunPaths.of(config);
        this.observer = observer;
        this.failures = new FailureAttribution(paths,
                () -> state instanceof State.Stopping || state instanceof State.Stopped);
    }

    /** The one place the state changes: to {@code next} if the current state allows it. */
    private synchronized boolean moveTo(State next) {
        if (!state.mayBecome(next)) {
            return false;
        }
        state = next;
        return true;
    }

    /**
     * Starts virtiofsd and QEMU and connects QMP, within the config's start timeout. On failure
     * everything started is ended and the error carries the last lines of QEMU's and the console's logs.
     */
    public synchronized void start() {
        if (!moveTo(new State.Starting())) {
            throw new IllegalStateException("VM already " + state);
        }
        long deadline = System.nanoTime() + config.startTimeout().toNanos();
        try {
            config.checkHost();
            QemuFeatures.requireSandbox(config);
            prepareRunDir();
            AcceleratorProbe.Choice choice = AcceleratorProbe.choose(config.accelerator(), config.qemuBinary());
            accelerator = choice.accelerator();
            OptionalLong tsc = HostCpu.tscKhz();
            if (accelerator == Accelerator.TCG && tsc.isEmpty() && !config.profile().hotplug()) {
                log.warn("host TSC rate unknown: the {} guest may fail to calibrate its clock under TCG",
                        config.profile().name());
            }
            if (config.sharedDir() != null && config.templating() == null) {
                virtiofsd = Virtiofsd.start(config.virtiofsdBinary(), paths.virtiofsdSocket(), config.sharedDir(),
                        config.sharedCache(), paths.virtiofsdLog(), remaining(deadline));
                failures.watch(virtiofsd);
                observer.virtiofsdStarted(virtiofsd.pid());
            }
            channel = AgentChannels.open(config, paths);
            List<String> argv = QemuCommandLine.build(config, paths, accelerator, tsc, channel);
            Files.write(PrivateFiles.newFile(paths.commandFile()), argv, StandardCharsets.UTF_8);
            log.info("starting {} VM ({}, {} vCPU, {} MiB): {}", config.profile().name(),
                    accelerator.name().toLowerCase(), config.vcpus(), config.memoryMib(), String.join(" ", argv));
            Files.createDirectories(paths.consoleLog().toAbsolutePath().getParent());
            // QEMU appends to the files as they are: owner-only from the start.
            PrivateFiles.newFile(paths.consoleLog());
            PrivateFiles.newFile(paths.qemuLog());
            Process p = new ProcessBuilder(argv).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.to(paths.qemuLog().toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            qemu = p;
            failures.watch(p);
            p.onExit().thenAccept(this::onQemuExit);
            observer.qemuStarted(p.pid());
            awaitQmpSocket(p, deadline);
            qmp = connectQmp(deadline);
            failures.checkAlive("connecting QMP");
            // QEMU made its server sockets with our umask before its main loop (and QMP) ran: now owner-only.
            PrivateFiles.restrictIfExists(paths.qmpSocket());
            PrivateFiles.restrictIfExists(paths.agentSocket());
            if (config.templating() instanceof Templating.Clone clone) {
                StateTransfer.load(qmp, paths.runDir().resolve(MIGRATION_SOCKET), clone.stateFile(), remaining(deadline));
            }
            moveTo(new State.Running(p.pid()));
            log.info("VM up: QEMU pid {}, QMP connected, console {}", p.pid(), paths.consoleLog());
        } catch (VmConfigException e) {
            moveTo(new State.Stopping());
            cleanup(true);
            moveTo(new State.Stopped(null));
            throw e;
        } catch (Exception e) {
            Throwable cause = (e instanceof ExecutionException || e instanceof CompletionException)
                    && e.getCause() != null ? e.getCause() : e;
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            // Let QEMU's own last words reach its log before reading it.
            waitExit(Duration.ofMillis(300));
            String diag = failures.diagnostics();
            moveTo(new State.Stopping());
            cleanup(true);
            moveTo(new State.Stopped(qemu == null || qemu.isAlive() ? null : qemu.exitValue()));
            throw failures.startFailure("cannot start " + config.profile().name() + " VM in " + config.runDir(),
                    config.startTimeout(), cause, diag);
        }
    }

    private void prepareRunDir() throws IOException {
        PrivateFiles.directories(config.runDir());
        Files.deleteIfExists(paths.qmpSocket());
        Files.deleteIfExists(paths.agentSocket());
        Files.deleteIfExists(paths.virtiofsdSocket());
        Files.deleteIfExists(paths.qemuLog());
        Files.deleteIfExists(paths.virtiofsdLog());
    }

    private void awaitQmpSocket(Process p, long deadline) throws InterruptedException {
        while (!Files.exists(paths.qmpSocket())) {
            failures.checkAlive("waiting for the QMP socket");
            if (System.nanoTime() > deadline) {
                throw new VmException("QEMU (pid " + p.pid() + ") did not open " + paths.qmpSocket() + " within "
                        + config.startTimeout().toMillis() + " ms");
            }
            Thread.sleep(5);
        }
    }

    /**
     * QEMU binds the QMP socket before it listens on it, so a connect can be refused for a moment after the
     * file appears (seen under load): retry refusals while QEMU lives and the deadline allows.
     */
    private QmpClient connectQmp(long deadline) throws Exception {
        while (true) {
            try {
                return QmpClient.connect(paths.qmpSocket(), remaining(deadline)).get();
            } catch (ExecutionException e) {
                if (!refused(e) || System.nanoTime() > deadline) {
                    throw e;
                }
                failures.checkAlive("connecting QMP");
                Thread.sleep(5);
            }
        }
    }

    private static boolean refused(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof java.net.ConnectException) {
                return true;
            }
        }
        return false;
    }

    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(1_000_000, deadline - System.nanoTime()));
    }

    private void onQemuExit(Process p) {
        int code = p.exitValue();
        log.info("QEMU pid {} exited with code {}", p.pid(), code);
        failures.onQemuExit(p);
        // Guest power-off or crash: take down the rest too. Done off the process reaper thread.
        CompletableFuture.runAsync(() -> {
            cleanup(false);
            moveTo(new State.Stopped(code));
            exit.complete(code);
        });
    }

    /** Ends what is still running (QEMU only if {@code killQemu}) and removes sockets. Idempotent. */
    private synchronized void cleanup(boolean killQemu) {
        Process p = qemu;
        if (killQemu && p != null && p.isAlive()) {
            log.info("killing QEMU pid {}", p.pid());
            ProcessTools.kill(p);
        }
        QmpClient q = qmp;
        if (q != null) {
            q.close();
        }
        Virtiofsd v = virtiofsd;
        if (v != null) {
            v.stop(p == null || !p.isAlive() ? VIRTIOFSD_GRACE : Duration.ZERO);
        }
        AgentChannel ch = channel;
        if (ch != null) {
            ch.close();
        }
        try {
            Files.deleteIfExists(paths.qmpSocket());
            Files.deleteIfExists(paths.virtiofsdSocket());
            Files.deleteIfExists(paths.agentSocket());
        } catch (IOException e) {
            log.warn("cannot remove sockets in {}: {}", config.runDir(), e.getMessage());
        }
        // What this clone's faults added to its template's file, returned once QEMU is gone.
        if (config.templating() instanceof Templating.Clone clone && p != null && !p.isAlive() && !templateRamReleased
                && Files.exists(clone.memoryFile())) {
            templateRamReleased = true;
            TemplateRam.digHoles(clone.memoryFile());
        }
    }

    private Integer waitExit(Duration d) {
        Process p = qemu;
        return p == null ? null : ProcessTools.waitFor(p, d);
    }

    /**
     * Powers the guest off through ACPI and waits up to {@code grace} for QEMU to exit by itself; then
     * {@code quit} over QMP; then SIGKILL to QEMU's pid. Returns QEMU's exit code (null if it never ran).
     */
    public Integer stop(Duration grace) {
        Process p;
        synchronized (this) {
            p = qemu;
            if (state instanceof State.Created) {
                moveTo(new State.Stopped(null));
                return null;
            }
            moveTo(new State.Stopping());
        }
        if (p != null && p.isAlive()) {
            QmpClient q = qmp;
            if (q != null && q.isConnected() && !grace.isZero()) {
                log.info("VM pid {}: ACPI power-off, waiting up to {} ms", p.pid(), grace.toMillis());
                long deadline = System.nanoTime() + grace.toNanos();
                // A press the guest is not yet listening for is lost: press again every second.
                while (p.isAlive() && System.nanoTime() < deadline && q.isConnected()) {
                    try {
                        q.systemPowerdown().get(2, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        log.debug("system_powerdown: {}", e.getMessage());
                    }
                    ProcessTools.waitFor(p, Duration.ofNanos(Math.max(1,
                            Math.min(POWERDOWN_REPEAT.toNanos(), deadline - System.nanoTime()))));
                }
            }
            if (p.isAlive() && q != null && q.isConnected()) {
                log.info("VM pid {} still running; sending quit", p.pid());
                try {
                    q.quit().get(2, TimeUnit.SECONDS);
                } catch (Exception e) {
                    log.debug("quit: {}", e.getMessage());
                }
                ProcessTools.waitFor(p, QUIT_WAIT);
            }
            if (p.isAlive()) {
                log.warn("QEMU pid {} did not exit; killing it", p.pid());
            }
        }
        cleanup(true);
        Integer code = p == null ? null : p.exitValue();
        if (p != null) {
            exit.complete(code);
        }
        moveTo(new State.Stopped(code));
        return code;
    }

    /** {@link #stop(Duration)} with a 10 s grace for the guest to power off. */
    @Override
    public void close() {
        stop(Duration.ofSeconds(10));
    }

    /**
     * Waits until a console line matches {@code pattern} and returns that line. Fails at once with the
     * console's last lines if QEMU or virtiofsd exits first, or when {@code timeout} passes.
     */
    public String waitForConsoleLine(Pattern pattern, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (ConsoleLines console = new ConsoleLines(paths.consoleLog())) {
            while (true) {
                boolean qemuGone = qemu == null || !qemu.isAlive();
                if (console.readMore()) {
                    String line = console.nextMatch(pattern);
                    if (line != null) {
                        return line;
                    }
                    continue;
                }
                String last = qemuGone ? console.unfinishedMatch(pattern) : null;
                if (last != null) {
                    return last;
                }
                VmException failed = failures.consoleWaitFailure(qemuGone, "/" + pattern + "/");
                if (failed != null) {
                    throw failed;
                }
                if (System.nanoTime() > deadline) {
                    throw new VmException("console did not show /" + pattern + "/ within " + timeout.toMillis()
                            + " ms" + failures.diagnostics());
                }
                Thread.sleep(10);
            }
        } catch (IOException e) {
            throw new VmException("cannot read console log " + paths.consoleLog() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new VmException("interrupted while waiting for the console", e);
        }
    }

    /** QEMU's pid (the sandbox's task pid). */
    public long pid() {
        Process p = qemu;
        if (p == null) {
            throw new IllegalStateException("VM not started");
        }
        return p.pid();
    }

    public OptionalLong virtiofsdPid() {
        Virtiofsd v = virtiofsd;
        return v == null ? OptionalLong.empty() : OptionalLong.of(v.pid());
    }

    /** Completes with QEMU's exit code once QEMU has exited and the VM's helpers are gone. */
    /**
     * Completes, with what happened, when a process of the running VM ends without {@link #stop} having
     * been asked: QEMU exited (a guest panic or power-off ends it too: panic=1, -no-reboot), or virtiofsd
     * exited while QEMU runs. The owner then decides; this class only tells.
     */
    public CompletableFuture<String> fault() {
        return failures.fault();
    }

    public CompletableFuture<Integer> exitFuture() {
        return exit;
    }

    public State state() {
        return state;
    }

    public VmConfig config() {
        return config;
    }

    public RunPaths paths() {
        return paths;
    }

    public Path consoleLog() {
        return paths.consoleLog();
    }

    /** The chosen accelerator (after start). */
    public Accelerator accelerator() {
        return accelerator;
    }

    public QmpClient qmp() {
        QmpClient q = qmp;
        if (q == null) {
            throw new IllegalStateException("VM not running");
        }
        return q;
    }

    public Optional<AgentChannel> agentChannel() {
        return Optional.ofNullable(channel);
    }
}
